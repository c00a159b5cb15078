/**
 * `npm run bench:c2d`: cloud-to-device messages per second and send → device latency (p50/p99)
 * over DEVICES (1000) connected MQTT devices: a service send → messaging (Postgres + Redis lock)
 * → gateway → MQTT PUBLISH QoS 1 → device PUBACK → complete. Two service transports, one after
 * the other: the hub's REST send (`POST /devices/{id}/messages/devicebound`) and AMQP, as
 * azure-iothub's `Client.send` does it (CBS token, one sender link on `/messages/devicebound`,
 * each message's `to` naming the device; a send counts when the hub accepts it). Each phase ends
 * when every queue is empty (all completed). Beside them, in the same run, the bare durable-queue
 * work in Postgres with the same concurrency (insert, lock, delete: what any C2D store must do).
 * Env: DEVICES (1000), SECONDS (10), CONCURRENCY (50).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import rhea, { type Delivery, type EventContext } from 'rhea';
import { createPool } from '@openiothub/postgres';
import { amqpConnect, putToken } from './amqp-clients.js';
import { closedLoop, connectDevice, inBatches, int, log, registerDevices, restClient, root, startBenchHub, urls } from './harness.js';
import { percentile, processUsage, table } from './stats.js';

const cfg = { devices: int('DEVICES', 1000), seconds: int('SECONDS', 10), concurrency: int('CONCURRENCY', 50) };

/** Baseline: the minimal SQL of a durable per-device queue, same concurrency, on the same Postgres. */
async function rawPostgres() {
  // Postgres allows ~100 connections in all: the baseline pool stays within 50 whatever the concurrency
  const pool = createPool(urls.databaseUrl, 'bench-c2d-baseline', Math.min(cfg.concurrency, 50));
  const table = `bench_c2d_${Date.now()}`;
  await pool.query(`CREATE TABLE ${table} (device text, seq bigserial, body bytea, lock uuid, PRIMARY KEY (device, seq))`);
  const r = await closedLoop(cfg.seconds, cfg.concurrency, async (i) => {
    const device = `d${i % cfg.devices}`;
    await pool.query(`INSERT INTO ${table} (device, body) VALUES ($1, $2)`, [device, Buffer.from('{"cmd":"on"}')]);
    const locked = await pool.query<{ seq: string }>(
      `UPDATE ${table} SET lock = gen_random_uuid() WHERE (device, seq) = (SELECT device, seq FROM ${table} WHERE device = $1 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING seq`,
      [device],
    );
    if (locked.rows[0]) await pool.query(`DELETE FROM ${table} WHERE device = $1 AND seq = $2`, [device, locked.rows[0].seq]);
  });
  await pool.query(`DROP TABLE ${table}`);
  await pool.end();
  return r;
}

async function main() {
  log(`bench:c2d devices=${cfg.devices} seconds=${cfg.seconds} concurrency=${cfg.concurrency}`);
  const h = await startBenchHub({ twin: false, messaging: true });
  const db = createPool(urls.databaseUrl, 'bench-c2d-drain', 2);
  try {
    const ids = await registerDevices(h, cfg.devices);
    const clients = await inBatches(cfg.devices, 100, (i) => connectDevice(h, ids[i]!));
    // each device resolves the send waiting for its next message
    const waiting = new Map<string, Array<() => void>>();
    let received = 0;
    clients.forEach((c, i) => {
      c.on('message', () => {
        received += 1;
        waiting.get(ids[i]!)?.shift()?.();
      });
    });
    await inBatches(clients.length, 200, (i) => clients[i]!.subscribeAsync({ [`devices/${ids[i]}/messages/devicebound/#`]: { qos: 1 } }));
    log(`${clients.length} devices connected and subscribed`);
    const token = await h.ownerToken();
    const rest = restClient(h, token);
    // the service's AMQP sender, as azure-iothub's Client opens it
    const amqp = await amqpConnect(h);
    await putToken(amqp, 'localhost', token);
    const sender = amqp.open_sender({ target: { address: '/messages/devicebound' } });
    await new Promise((r) => sender.once('sendable', r));
    const accepted = new Map<Delivery, { resolve(): void; reject(e: Error): void }>();
    sender.on('accepted', (ctx: EventContext) => accepted.get(ctx.delivery!)?.resolve());
    sender.on('rejected', (ctx: EventContext) => accepted.get(ctx.delivery!)?.reject(new Error(`rejected: ${JSON.stringify(ctx.delivery!.remote_state)}`)));
    const transports = {
      rest: async (deviceId: string, i: number) => {
        const res = await rest.send('POST', `/devices/${deviceId}/messages/devicebound`, { cmd: 'on', n: i }, { 'iothub-messageid': `m${i}` });
        if (res.status !== 200) throw new Error(`send ${res.status} ${res.body.slice(0, 200)}`);
      },
      amqp: (deviceId: string, i: number) =>
        new Promise<void>((resolve, reject) => {
          const d = sender.send({ to: `/devices/${deviceId}/messages/devicebound`, message_id: `a${i}`, body: rhea.message.data_section(Buffer.from(JSON.stringify({ cmd: 'on', n: i }))) });
          accepted.set(d, {
            resolve: () => (accepted.delete(d), resolve()),
            reject: (e) => (accepted.delete(d), reject(e)),
          });
        }),
    };
    let sent = 0;
    // lane k of CONCURRENCY sends to devices k, k+C, k+2C, …: one message in flight per lane
    const sendWith = (transport: (deviceId: string, i: number) => Promise<void>) => async (i: number) => {
      const deviceId = ids[i % ids.length]!;
      const got = new Promise<void>((r) => {
        const q = waiting.get(deviceId) ?? [];
        q.push(r);
        waiting.set(deviceId, q);
      });
      await transport(deviceId, i);
      sent += 1;
      await got;
    };
    const pids = [h.gatewayPid, h.messagingPid!];
    /** One phase: sends for SECONDS, then until every queue is empty; the rate counts that whole time. */
    const phase = async (transport: (deviceId: string, i: number) => Promise<void>) => {
      const send = sendWith(transport);
      await closedLoop(2, cfg.concurrency, send);
      const u0 = await Promise.all(pids.map((p) => processUsage(p)));
      const r0 = received;
      const t0 = performance.now();
      const run = await closedLoop(cfg.seconds, cfg.concurrency, send);
      // every delivered message must also be completed: wait for the queues to drain
      for (;;) {
        const left = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM messaging.c2d WHERE hub = $1', [h.hub])).rows[0]!.n);
        if (left === 0) break;
        if (performance.now() - t0 > (cfg.seconds + 60) * 1000) throw new Error(`${left} messages never completed`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const elapsed = (performance.now() - t0) / 1000;
      const u1 = await Promise.all(pids.map((p) => processUsage(p)));
      const cpu = (k: number) => ((u1[k]!.cpuSeconds - u0[k]!.cpuSeconds) / elapsed) * 100;
      return { rate: (received - r0) / elapsed, count: run.count, latencies: run.latencies, gatewayCpu: cpu(0), messagingCpu: cpu(1), rssBytes: u1[0]!.rssBytes };
    };
    const viaRest = await phase(transports.rest);
    log('sending over AMQP');
    const viaAmqp = await phase(transports.amqp);
    rest.close();
    amqp.close();
    await inBatches(clients.length, 200, (i) => clients[i]!.endAsync());
    log('measuring the Postgres baseline');
    const baseline = await rawPostgres();
    const row = (path: string, r: typeof viaRest) => ({
      path,
      'msgs/s': Math.round(r.rate),
      'p50 ms': percentile(r.latencies, 50),
      'p99 ms': percentile(r.latencies, 99),
      'gateway CPU %': r.gatewayCpu,
      'messaging CPU %': r.messagingCpu,
      'gateway RSS MB': Math.round(r.rssBytes / 2 ** 20),
      'vs raw Postgres': (r.count / baseline.count).toFixed(2),
    });
    const rows = [
      row(`C2D: REST send → queue → MQTT QoS 1 → PUBACK → complete (${cfg.concurrency} in flight, ${cfg.devices} devices)`, viaRest),
      row(`… sent over AMQP as azure-iothub's Client.send (one sender link, ${cfg.concurrency} in flight)`, viaAmqp),
      {
        path: `raw Postgres queue: INSERT, lock (UPDATE … SKIP LOCKED), DELETE (${cfg.concurrency} in flight)`,
        'msgs/s': Math.round(baseline.count / cfg.seconds),
        'p50 ms': percentile(baseline.latencies, 50),
        'p99 ms': percentile(baseline.latencies, 99),
        'gateway CPU %': '',
        'messaging CPU %': '',
        'gateway RSS MB': '',
        'vs raw Postgres': '1.00',
      },
    ];
    process.stdout.write(table(`C2D (send → device receipt latency; ${sent} sent; gateway, messaging, registry, Postgres, Redis, NATS and the load generator share 2 vCPU)`, rows));
    mkdirSync(join(root, '.data'), { recursive: true });
    writeFileSync(join(root, '.data', 'bench-c2d.json'), JSON.stringify({ cfg, rows, at: new Date().toISOString() }, null, 2));
  } finally {
    await db.end();
    await h.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
