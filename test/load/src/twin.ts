/**
 * `npm run bench:twin`: reported-property patches (device → hub over MQTT) and desired-property
 * pushes (service REST → device) per second with p50/p99, over DEVICES (1000) connected devices,
 * beside a raw Postgres JSONB update loop with the same concurrency in the same run.
 * Env: DEVICES (1000), SECONDS (10), CONCURRENCY (200 reported), REST_CONCURRENCY (50 desired),
 * TWIN_POOL (the twin service's Postgres pool, 20), PROFILE=twin,gateway for CPU profiles,
 * PHASES (reported,desired: which to run, e.g. PHASES=desired to profile that path alone).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { createPool } from '@openiothub/postgres';
import { closedLoop, connectDevice, inBatches, int, log, registerDevices, restClient, root, startBenchHub, urls } from './harness.js';
import { percentile, processUsage, table } from './stats.js';

const cfg = { devices: int('DEVICES', 1000), seconds: int('SECONDS', 10), concurrency: int('CONCURRENCY', 200), restConcurrency: int('REST_CONCURRENCY', 50), phases: (process.env['PHASES'] ?? 'reported,desired').split(',') };
const skipped = { count: 0, latencies: [] as number[] };

async function rawPostgres(devices: number) {
  const pool = createPool(urls.databaseUrl, 'bench-twin-baseline', cfg.concurrency > 50 ? 50 : cfg.concurrency);
  const table_ = `bench_twin_${Date.now()}`;
  await pool.query(`CREATE TABLE ${table_} (id int PRIMARY KEY, reported jsonb NOT NULL, version bigint NOT NULL)`);
  await pool.query(`INSERT INTO ${table_} SELECT g, '{}', 1 FROM generate_series(0, $1) g`, [devices - 1]);
  const r = await closedLoop(cfg.seconds, cfg.concurrency, async (i) => {
    await pool.query(`UPDATE ${table_} SET reported = reported || $2::jsonb, version = version + 1 WHERE id = $1`, [i % devices, JSON.stringify({ temperature: i, battery: 50 })]);
  });
  await pool.query(`DROP TABLE ${table_}`);
  await pool.end();
  return r;
}

async function main() {
  log(`bench:twin devices=${cfg.devices} seconds=${cfg.seconds} concurrency=${cfg.concurrency}`);
  const h = await startBenchHub({ twin: true });
  try {
    const ids = await registerDevices(h, cfg.devices);
    const clients = await inBatches(cfg.devices, 100, (i) => connectDevice(h, ids[i]!));
    const waiting = new Map<string, () => void>();
    const desiredWaiters = new Map<number, () => void>();
    clients.forEach((c, idx) => {
      c.on('message', (topic: string) => {
        if (topic.startsWith('$iothub/twin/res/')) waiting.get(/\$rid=([^&]+)/.exec(topic)?.[1] ?? '')?.();
        else if (topic.startsWith('$iothub/twin/PATCH/properties/desired/')) desiredWaiters.get(idx)?.();
      });
    });
    await inBatches(clients.length, 200, (i) => clients[i]!.subscribeAsync({ '$iothub/twin/res/#': { qos: 0 }, '$iothub/twin/PATCH/properties/desired/#': { qos: 0 } }));
    log(`${clients.length} devices connected and subscribed`);

    const reportedOnce = (c: MqttClient, rid: string, body: string) =>
      new Promise<void>((resolve) => {
        waiting.set(rid, () => {
          waiting.delete(rid);
          resolve();
        });
        c.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${rid}`, body, { qos: 0 });
      });
    await closedLoop(2, cfg.concurrency, (i) => reportedOnce(clients[i % clients.length]!, `w${i}`, '{"warm":1}'));
    // CPU of the gateway, the twin service and this load generator, phase by phase
    const usage = async () => ({ gateway: (await processUsage(h.gatewayPid)).cpuSeconds, twin: (await processUsage(h.twinPid!)).cpuSeconds, load: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 });
    const u0 = await usage();
    const reported = !cfg.phases.includes('reported') ? skipped : await closedLoop(cfg.seconds, cfg.concurrency, (i) => reportedOnce(clients[i % clients.length]!, `r${i}`, JSON.stringify({ temperature: i, battery: 50 })));
    const u1 = await usage();

    const rest = restClient(h, await h.ownerToken());
    // one desired patch per device at a time: latency from the REST call to the push at the device
    const desired = !cfg.phases.includes('desired') ? skipped : await closedLoop(cfg.seconds, cfg.restConcurrency, async (i) => {
      const idx = i % clients.length;
      while (desiredWaiters.has(idx)) await new Promise((r) => setImmediate(r));
      const pushed = new Promise<void>((resolve) => desiredWaiters.set(idx, () => {
        desiredWaiters.delete(idx);
        resolve();
      }));
      const res = await rest.send('PATCH', `/twins/${ids[idx]}`, { properties: { desired: { setpoint: i } } });
      if (res.status !== 200) throw new Error(`PATCH ${res.status} ${res.body.slice(0, 200)}`);
      await pushed;
    });
    const u2 = await usage();
    rest.close();
    await inBatches(clients.length, 200, (i) => clients[i]!.endAsync());
    log('measuring the Postgres baseline');
    const baseline = await rawPostgres(cfg.devices);

    const rate = (n: number) => Math.round(n / cfg.seconds);
    type Usage = typeof u0;
    const cpu = (a: Usage, b: Usage) => ({
      'gateway CPU %': ((b.gateway - a.gateway) / cfg.seconds) * 100,
      'twin CPU %': ((b.twin - a.twin) / cfg.seconds) * 100,
      'load generator CPU %': ((b.load - a.load) / cfg.seconds) * 100,
    });
    const measured = [
      { path: `reported PATCH over MQTT → twin service → Postgres (${cfg.concurrency} in flight, ${cfg.devices} devices)`, 'ops/s': rate(reported.count), 'p50 ms': percentile(reported.latencies, 50), 'p99 ms': percentile(reported.latencies, 99), ...cpu(u0, u1), 'vs raw Postgres': (reported.count / baseline.count).toFixed(2) },
      { path: `desired PATCH over REST → push received by the device (${cfg.restConcurrency} in flight)`, 'ops/s': rate(desired.count), 'p50 ms': percentile(desired.latencies, 50), 'p99 ms': percentile(desired.latencies, 99), ...cpu(u1, u2), 'vs raw Postgres': (desired.count / baseline.count).toFixed(2) },
    ];
    // a phase not run (PHASES) has no row
    const rows = [
      ...measured.filter((_, i) => cfg.phases.includes(i === 0 ? 'reported' : 'desired')),
      { path: `raw Postgres: UPDATE jsonb || patch, one row per device (${cfg.concurrency} in flight, pool 50)`, 'ops/s': rate(baseline.count), 'p50 ms': percentile(baseline.latencies, 50), 'p99 ms': percentile(baseline.latencies, 99), 'gateway CPU %': '', 'twin CPU %': '', 'load generator CPU %': '', 'vs raw Postgres': '1.00' },
    ];
    process.stdout.write(table('Twin operations (all services, NATS, Postgres and the load generator share 2 vCPU)', rows));
    mkdirSync(join(root, '.data'), { recursive: true });
    writeFileSync(join(root, '.data', 'bench-twin.json'), JSON.stringify({ cfg, rows, at: new Date().toISOString() }, null, 2));
  } finally {
    await h.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
