/**
 * `npm run bench:query`: twin query latency over QUERY_DEVICES (1,000,000) twins through the
 * hub's REST API (`POST /devices/query`: gateway → twin service → Postgres), beside the SQL a
 * person would write by hand for the same rows, in the same run; then the fan-out rate of a
 * twin-update job over JOB_DEVICES (100,000) of them, beside direct twin-service updates.
 *
 * The twins are seeded straight into Postgres in the services' own tables (registering a million
 * devices through the API would take the bench's whole budget); everything measured goes through
 * the running services. Env: QUERY_DEVICES, JOB_DEVICES (must divide QUERY_DEVICES into shards),
 * RUNS (50 per indexed query), SCAN_RUNS (10 per full scan), BASELINE_UPDATES (20,000).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPool, type Pool } from '@openiothub/postgres';
import { connectClient, jobsV1, twinV1 } from '@openiothub/proto';
import { int, log, restClient, root, startBenchHub, urls, type BenchHub } from './harness.js';
import { percentile, processUsage, table } from './stats.js';

const cfg = { devices: int('QUERY_DEVICES', 1_000_000), jobDevices: int('JOB_DEVICES', 100_000), runs: int('RUNS', 50), scanRuns: int('SCAN_RUNS', 10), baselineUpdates: int('BASELINE_UPDATES', 20_000) };
const shards = Math.max(1, Math.round(cfg.devices / cfg.jobDevices));

/** Devices and twins in the registry's and twin service's tables, as the services write them. */
async function seed(pool: Pool, hub: string): Promise<void> {
  const at = new Date().toISOString();
  const meta = JSON.stringify({ $lastUpdated: at });
  const t0 = performance.now();
  for (let from = 0; from < cfg.devices; from += 100_000) {
    const to = Math.min(cfg.devices, from + 100_000) - 1;
    await pool.query(
      `INSERT INTO registry.devices (hub, device_id, generation_id, version, status, auth_type, primary_key, secondary_key)
       SELECT $1, 'q-' || lpad(i::text, 7, '0'), 'gen-' || i, 1, CASE WHEN i % 10 = 0 THEN 'disabled' ELSE 'enabled' END, 'sas', 'a2V5', 'a2V5'
       FROM generate_series($2::int, $3::int) i`,
      [hub, from, to],
    );
    await pool.query(
      `INSERT INTO twin.twins (hub, device_id, module_id, generation_id, tags, desired, desired_meta, desired_version, reported, reported_meta, reported_version, version, etag_version)
       SELECT $1, 'q-' || lpad(i::text, 7, '0'), '', 'gen-' || i,
              jsonb_build_object('region', (ARRAY['US','EU','APAC','LATAM'])[i % 4 + 1], 'plant', 'plant-' || (i % 1000), 'shard', i % $4::int),
              '{}', $5, 1,
              jsonb_build_object('status', (ARRAY['Success','Pending','Error'])[i % 3 + 1], 'temp', i % 100), $5, 2, 2, 1
       FROM generate_series($2::int, $3::int) i`,
      [hub, from, to, shards, meta],
    );
    log(`  seeded ${to + 1} twins`);
  }
  await pool.query('UPDATE registry.hubs SET device_count = $2 WHERE name = $1', [hub, cfg.devices]);
  await pool.query('ANALYZE registry.devices');
  await pool.query('ANALYZE twin.twins');
  log(`seeded ${cfg.devices} devices in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function timed(runs: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn(); // warm
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

async function queries(h: BenchHub, pool: Pool) {
  const rest = restClient(h, await h.ownerToken());
  const api = async (query: string) => {
    const r = await rest.send('POST', '/devices/query', { query }, { 'x-ms-max-item-count': '100' });
    if (r.status !== 200) throw new Error(`query failed: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as unknown[];
  };
  const sql = (text: string, params: unknown[]) => pool.query(text, params);
  const cases = [
    {
      name: 'tag filter (GIN index), first page of 100 of 1,000',
      runs: cfg.runs,
      api: () => api("SELECT * FROM devices WHERE tags.plant = 'plant-42'"),
      sql: () =>
        sql(
          `SELECT d.*, t.* FROM registry.devices d JOIN twin.twins t ON t.hub = d.hub AND t.device_id = d.device_id AND t.module_id = ''
           WHERE d.hub = $1 AND t.tags @> '{"plant":"plant-42"}' ORDER BY d.device_id LIMIT 101`,
          [h.hub],
        ),
    },
    {
      name: 'deviceId IN [10 ids]',
      runs: cfg.runs,
      api: () => api(`SELECT * FROM devices WHERE deviceId IN [${Array.from({ length: 10 }, (_, i) => `'q-${String(i * 997).padStart(7, '0')}'`).join(', ')}]`),
      sql: () =>
        sql(
          `SELECT d.*, t.* FROM registry.devices d LEFT JOIN twin.twins t ON t.hub = d.hub AND t.device_id = d.device_id AND t.module_id = ''
           WHERE d.hub = $1 AND d.device_id = ANY($2::text[]) ORDER BY d.device_id`,
          [h.hub, Array.from({ length: 10 }, (_, i) => `q-${String(i * 997).padStart(7, '0')}`)],
        ),
    },
    {
      name: 'GROUP BY reported status, COUNT() (full scan)',
      runs: cfg.scanRuns,
      api: () => api('SELECT properties.reported.status AS status, COUNT() AS n FROM devices GROUP BY properties.reported.status'),
      sql: () => sql(`SELECT reported -> 'status' AS status, count(*) FROM twin.twins WHERE hub = $1 GROUP BY 1 ORDER BY 1`, [h.hub]),
    },
    {
      name: 'COUNT() WHERE reported.temp >= 50 (full scan)',
      runs: cfg.scanRuns,
      api: () => api('SELECT COUNT() AS n FROM devices WHERE properties.reported.temp >= 50'),
      sql: () => sql(`SELECT count(*) FROM twin.twins WHERE hub = $1 AND (reported ->> 'temp')::numeric >= 50`, [h.hub]),
    },
  ];
  const rows: Array<Record<string, string | number>> = [];
  for (const c of cases) {
    log(`  ${c.name}`);
    const a = await timed(c.runs, c.api);
    const b = await timed(c.runs, c.sql);
    rows.push({ query: c.name, via: 'hub REST (POST /devices/query)', runs: c.runs, 'p50 ms': percentile(a, 50), 'p99 ms': percentile(a, 99) });
    rows.push({ query: '', via: 'baseline: hand-written SQL', runs: c.runs, 'p50 ms': percentile(b, 50), 'p99 ms': percentile(b, 99) });
  }
  rest.close();
  return rows;
}

async function fanOut(h: BenchHub) {
  const jobs = connectClient(jobsV1.JobsServiceClient, jobsV1.JobsServiceService, `127.0.0.1:${h.jobsGrpc}`);
  const twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, `127.0.0.1:${h.twinGrpc}`);
  const jobId = `bench-${Date.now()}`;
  const before = { jobs: await processUsage(h.jobsPid!), twin: await processUsage(h.twinPid!) };
  const t0 = performance.now();
  await jobs.createJob({ hub: h.hub, jobId, jobJson: JSON.stringify({ type: 'scheduleUpdateTwin', updateTwin: { properties: { desired: { benchRun: jobId } } }, queryCondition: 'tags.shard = 3' }) });
  let job: { status: string; deviceJobStatistics: { deviceCount: number; succeededCount: number; failedCount: number } };
  let peakRss = 0;
  for (;;) {
    job = JSON.parse((await jobs.getJob({ hub: h.hub, jobId })).jobJson) as typeof job;
    peakRss = Math.max(peakRss, (await processUsage(h.jobsPid!)).rssBytes);
    if (['completed', 'failed', 'cancelled'].includes(job.status)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = { jobs: await processUsage(h.jobsPid!), twin: await processUsage(h.twinPid!) };
  log(`  job ${job.status}: ${JSON.stringify(job.deviceJobStatistics)}`);

  // baseline: the same twin update sent straight to the twin service, 256 at a time (the jobs process's in-flight limit)
  const ids = Array.from({ length: cfg.baselineUpdates }, (_, i) => `q-${String(i * shards + 4).padStart(7, '0')}`);
  const b0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < ids.length) {
        const deviceId = ids[next++]!;
        await twin.updateTwin({ key: { hub: h.hub, deviceId, moduleId: '' }, patchJson: JSON.stringify({ properties: { desired: { benchRun: 'baseline' } } }), ifMatch: '*' });
      }
    }),
  );
  const bSeconds = (performance.now() - b0) / 1000;
  jobs.close();
  twin.close();
  const mb = (b: number) => b / 1024 / 1024;
  return [
    {
      path: `twin-update job over ${job.deviceJobStatistics.deviceCount.toLocaleString('en-US')} devices (tags.shard = 3)`,
      devices: job.deviceJobStatistics.succeededCount,
      seconds,
      'devices/s': job.deviceJobStatistics.succeededCount / seconds,
      'jobs CPU s': after.jobs.cpuSeconds - before.jobs.cpuSeconds,
      'twin CPU s': after.twin.cpuSeconds - before.twin.cpuSeconds,
      'jobs peak RSS MB': mb(peakRss),
    },
    { path: 'baseline: UpdateTwin gRPC, 256 in flight', devices: ids.length, seconds: bSeconds, 'devices/s': ids.length / bSeconds, 'jobs CPU s': '', 'twin CPU s': '', 'jobs peak RSS MB': '' },
  ];
}

async function main() {
  log(`bench:query devices=${cfg.devices} jobDevices=${cfg.jobDevices} runs=${cfg.runs}`);
  const h = await startBenchHub({ twin: true, jobs: true, jobsEnv: { JOBS_DEVICE_OPS_PER_SECOND: '0', JOBS_POLL_MS: '100' } });
  const pool = createPool(urls.databaseUrl, 'bench-query', 4);
  try {
    await seed(pool, h.hub);
    const q = await queries(h, pool);
    const f = await fanOut(h);
    const out =
      table(`Twin queries over ${cfg.devices.toLocaleString('en-US')} twins (latency per page)`, q) +
      table(`Job fan-out (JOBS_DEVICE_OPS_PER_SECOND=0: unthrottled)`, f);
    process.stdout.write(out);
    mkdirSync(join(root, '.data'), { recursive: true });
    writeFileSync(join(root, '.data', 'bench-query.txt'), out);
  } finally {
    await h.stop();
    log('cleaning up the bench hub');
    await pool.query('DELETE FROM jobs.jobs WHERE hub = $1', [h.hub]);
    await pool.query('DELETE FROM twin.twins WHERE hub = $1', [h.hub]);
    await pool.query('DELETE FROM registry.hubs WHERE name = $1', [h.hub]);
    await pool.end();
  }
}

await main();
