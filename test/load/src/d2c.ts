/**
 * `npm run bench:d2c`: device-to-cloud throughput and latency of the MQTT gateway, beside raw
 * JetStream measured in the same run (spec/baselines.md: absolute numbers drift between machines;
 * ratios to a same-run baseline do not).
 *
 * The registry and gateway run as their own processes (built entry points), so the gateway's CPU
 * and RSS are its own; the load generator (mqtt.js clients) runs here. Env: DEVICES (100),
 * IN_FLIGHT per device (10), SECONDS per phase (10), IDLE connections (2000), PAYLOAD bytes (256),
 * PROFILE=1 to write a CPU profile of the gateway to .data/profiles.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, d2cStream, ingestStream } from '@openiothub/bus';
import { jetStreamBaselines } from './jetstream-baseline.js';
import rhea, { type EventContext, type Sender } from 'rhea';
import { amqpConnect, amqpDevice, putToken } from './amqp-clients.js';
import { connectDevice, inBatches, int, log, registerDevices, root, schedule, startBenchHub, urls, type BenchHub } from './harness.js';
import { percentile, processUsage, table } from './stats.js';

const stops: Array<() => Promise<void>> = [];

const cfg = { devices: int('DEVICES', 100), inFlight: int('IN_FLIGHT', 10), seconds: int('SECONDS', 10), idle: int('IDLE', 2000), payload: int('PAYLOAD', 256) };
const payload = Buffer.alloc(cfg.payload, 'x');

/** Each client keeps `inFlight` QoS 1 publishes outstanding (or paces to `rate` msg/s overall) for `seconds`. */
async function drive(clients: MqttClient[], opts: { seconds: number; inFlight: number; rate?: number }) {
  const latencies: number[] = [];
  let acked = 0;
  /** QoS 1 publish that records its PUBACK latency, then calls `after`. */
  const timedPublish = (c: MqttClient, topic: string, after: () => void) => {
    const t = performance.now();
    c.publish(topic, payload, { qos: 1 }, (err) => {
      if (!err) {
        acked++;
        latencies.push(performance.now() - t);
      }
      after();
    });
  };
  await schedule(clients, opts, (c, after) => timedPublish(c, `devices/${c.options.clientId as string}/messages/events/`, after));
  latencies.sort((a, b) => a - b);
  return { acked, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** AMQP devices: each keeps `inFlight` unsettled transfers outstanding; latency to the hub's `accepted`. */
async function driveAmqp(senders: Sender[], opts: { seconds: number; inFlight: number }) {
  const latencies: number[] = [];
  let accepted = 0;
  const end = performance.now() + opts.seconds * 1000;
  await Promise.all(
    senders.map(
      (sender) =>
        new Promise<void>((done) => {
          const started = new Map<unknown, number>();
          let outstanding = 0;
          const send = () => {
            if (performance.now() >= end) {
              if (outstanding === 0) done();
              return;
            }
            if (!sender.sendable()) return;
            outstanding++;
            started.set(sender.send({ body: rhea.message.data_section(payload) }), performance.now());
          };
          sender.on('accepted', (ctx: EventContext) => {
            const t = started.get(ctx.delivery);
            started.delete(ctx.delivery);
            if (t !== undefined) latencies.push(performance.now() - t);
            accepted++;
            outstanding--;
            send();
          });
          sender.on('sendable', send);
          for (let i = 0; i < opts.inFlight; i++) send();
        }),
    ),
  );
  latencies.sort((a, b) => a - b);
  return { acked: accepted, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/**
 * End to end: MQTT devices publish (paced at `rate` msg/s, the send time in the payload) while a
 * reader on the Event Hubs-compatible endpoint takes every partition from "latest"; latency is
 * device send → event in the reader's hands.
 */
async function endToEnd(h: BenchHub, clients: MqttClient[], opts: { seconds: number; rate: number }) {
  const reader = await amqpConnect(h);
  reader.on('error', (err: unknown) => log(`reader error: ${String(err)}`));
  await putToken(reader, 'localhost', await h.ownerToken());
  const latencies: number[] = [];
  for (let p = 0; p < 4; p++) {
    const r = reader.open_receiver({ source: { address: `${h.hub}/ConsumerGroups/$Default/Partitions/${p}`, filter: rhea.filter.selector("amqp.annotation.x-opt-offset > '@latest'") } });
    r.on('message', (ctx: EventContext) => {
      const body = (ctx.message!.body as { content: Buffer }).content;
      const sent = Number(JSON.parse(body.toString('utf8')).t);
      latencies.push(Date.now() - sent);
    });
  }
  await new Promise((r) => setTimeout(r, 1000)); // readers attached
  const perClient = opts.rate / clients.length;
  const start = performance.now();
  const end = start + opts.seconds * 1000;
  let sent = 0;
  await Promise.all(
    clients.map(async (c) => {
      const topic = `devices/${c.options.clientId as string}/messages/events/`;
      let mine = 0;
      await new Promise<void>((done) => {
        const tick = setInterval(() => {
          const now = performance.now();
          const due = Math.floor(((now - start) / 1000) * perClient);
          while (mine < due && now < end) {
            mine++;
            sent++;
            c.publish(topic, JSON.stringify({ t: Date.now(), pad: 'x'.repeat(Math.max(0, cfg.payload - 30)) }), { qos: 1 });
          }
          if (now >= end) {
            clearInterval(tick);
            done();
          }
        }, 5);
      });
    }),
  );
  const deadline = Date.now() + 10_000;
  while (latencies.length < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  reader.close();
  latencies.sort((a, b) => a - b);
  return { sent, received: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function main() {
  log(`bench:d2c  devices=${cfg.devices} inFlight=${cfg.inFlight} seconds=${cfg.seconds} idle=${cfg.idle} payload=${cfg.payload}B`);
  const h = await startBenchHub({ twin: false, messaging: true, routing: true });
  stops.push(() => h.stop());
  const pid = h.gatewayPid;
  const total = Math.max(cfg.devices, cfg.idle);
  const ids = await registerDevices(h, total);
  log(`${total} devices registered in hub ${h.hub}`);

  // --- idle connections ---
  // first, on the fresh gateway: after a load phase, garbage collection moves RSS by more than the connections cost
  await new Promise((r) => setTimeout(r, 2000));
  const idleBefore = await processUsage(pid);
  const t0 = performance.now();
  const idle = await inBatches(cfg.idle, 100, (i) => connectDevice(h, ids[i]!, 300));
  const connectSeconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  const idleAfter = await processUsage(pid);
  await inBatches(idle.length, 200, (i) => idle[i]!.endAsync());

  // --- load phases ---
  const clients = await inBatches(cfg.devices, 50, (i) => connectDevice(h, ids[i]!));
  await drive(clients, { seconds: 2, inFlight: cfg.inFlight }); // warm-up (JIT, caches)
  const u0 = await processUsage(pid);
  const sat = await drive(clients, { seconds: cfg.seconds, inFlight: cfg.inFlight });
  const u1 = await processUsage(pid);
  const satRate = sat.acked / cfg.seconds;
  const half = await drive(clients, { seconds: cfg.seconds, inFlight: cfg.inFlight, rate: satRate / 2 });
  const u2 = await processUsage(pid);
  log('end to end: devices → Event Hubs reader');
  const e2e = await endToEnd(h, clients, { seconds: cfg.seconds, rate: Math.round(satRate / 4) });
  await Promise.all(clients.map((c) => c.endAsync()));

  log('AMQP devices');
  const amqp = await inBatches(cfg.devices, 50, (i) => amqpDevice(h, ids[i]!));
  await driveAmqp(amqp.map((a) => a.sender), { seconds: 2, inFlight: cfg.inFlight });
  const u3 = await processUsage(pid);
  const amqpSat = await driveAmqp(amqp.map((a) => a.sender), { seconds: cfg.seconds, inFlight: cfg.inFlight });
  const u4 = await processUsage(pid);
  for (const a of amqp) a.conn.close();
  log('load phases done; measuring baselines');
  const base = await jetStreamBaselines(Math.max(50_000, sat.acked), payload);

  // --- purge the bench hub's telemetry ---
  const nc = await connectNats(urls.natsUrl, 'bench-cleanup');
  const jsm = await jetstreamManager(nc);
  for (let p = 0; p < 128; p++) {
    await jsm.streams.delete(ingestStream(h.hub, p).name).catch(() => false);
    if (!(await jsm.streams.delete(d2cStream(h.hub, p).name).catch(() => false))) break;
  }
  await nc.close();

  const official = base[0]!['msg/s'];
  const rows = [
    { path: `gateway MQTT/TLS QoS 1, saturation (${cfg.devices} × ${cfg.inFlight} in flight)`, 'msg/s': Math.round(satRate), 'p50 ms': sat.p50, 'p99 ms': sat.p99, 'gateway CPU %': ((u1.cpuSeconds - u0.cpuSeconds) / cfg.seconds) * 100, 'gateway RSS MB': u1.rssBytes / 2 ** 20, 'vs official js.publish': (satRate / official).toFixed(2) },
    { path: 'gateway MQTT/TLS QoS 1, paced at 50% of saturation', 'msg/s': Math.round(half.acked / cfg.seconds), 'p50 ms': half.p50, 'p99 ms': half.p99, 'gateway CPU %': ((u2.cpuSeconds - u1.cpuSeconds) / cfg.seconds) * 100, 'gateway RSS MB': u2.rssBytes / 2 ** 20, 'vs official js.publish': (half.acked / cfg.seconds / official).toFixed(2) },
    { path: `gateway AMQP/TLS, saturation (${cfg.devices} × ${cfg.inFlight} unsettled)`, 'msg/s': Math.round(amqpSat.acked / cfg.seconds), 'p50 ms': amqpSat.p50, 'p99 ms': amqpSat.p99, 'gateway CPU %': ((u4.cpuSeconds - u3.cpuSeconds) / cfg.seconds) * 100, 'gateway RSS MB': u4.rssBytes / 2 ** 20, 'vs official js.publish': (amqpSat.acked / cfg.seconds / official).toFixed(2) },
    { path: `end to end: MQTT device → Event Hubs reader, paced at 25% of saturation (${e2e.received}/${e2e.sent} read)`, 'msg/s': Math.round(e2e.received / cfg.seconds), 'p50 ms': e2e.p50, 'p99 ms': e2e.p99, 'gateway CPU %': '', 'gateway RSS MB': '', 'vs official js.publish': '' },
    ...base.map((b) => ({ path: b.path, 'msg/s': b['msg/s'], 'p50 ms': '', 'p99 ms': '', 'gateway CPU %': '', 'gateway RSS MB': '', 'vs official js.publish': (b['msg/s'] / official).toFixed(2) })),
  ];
  const idleRows = [
    { 'idle connections': cfg.idle, 'connects/s (TLS)': Math.round(cfg.idle / connectSeconds), 'RSS before MB': idleBefore.rssBytes / 2 ** 20, 'RSS after MB': idleAfter.rssBytes / 2 ** 20, 'KB per connection': (idleAfter.rssBytes - idleBefore.rssBytes) / cfg.idle / 1024 },
  ];
  const out = table(`D2C throughput and PUBACK latency (${cfg.payload}-byte payloads; load generator, gateway, registry, NATS share ${'2'} vCPU)`, rows) + table('Idle connections (keep-alive 300 s)', idleRows);
  process.stdout.write(out);
  mkdirSync(join(root, '.data'), { recursive: true });
  writeFileSync(join(root, '.data', 'bench-d2c.json'), JSON.stringify({ cfg, rows, idleRows, at: new Date().toISOString() }, null, 2));
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const stop of stops) await stop();
  });
