import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, subjects, type NatsConnection } from '@openiothub/bus';
import { createPool, type Pool } from '@openiothub/postgres';
import { connectClient, jobsV1, registryV1, twinV1 } from '@openiothub/proto';
import { createRegistryApp, loadRegistryConfig } from '@openiothub/registry';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { createTwinApp, loadTwinConfig } from '@openiothub/twin';
import { createJobsApp, loadJobsConfig, type JobsApp } from '../src/index.js';

// Jobs (devguide §14, checklist N) against Postgres, NATS, the registry and the twin service. The
// devices' gateway is played by NATS responders on the method subjects. Each scenario runs on a
// hub of its own, with jobs processes scoped to it (JOBS_HUBS), so they never see each other's jobs.

const urls = testUrls();
const ctx = testContext('jobs-int');
let registryPort = 0;
let twinPort = 0;
let nc: NatsConnection;
let pool: Pool;
let registry: ReturnType<typeof connectClient<registryV1.RegistryServiceClient>>;
let twin: ReturnType<typeof connectClient<twinV1.TwinServiceClient>>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

beforeAll(async () => {
  const reg = await createRegistryApp(loadRegistryConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', DEFAULT_HUB: uniqueName('jobsdefault') }), ctx);
  registryPort = reg.grpcPort;
  const t = await createTwinApp(loadTwinConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', REGISTRY_GRPC_URL: `127.0.0.1:${registryPort}` }), ctx);
  twinPort = t.grpcPort;
  registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, `127.0.0.1:${registryPort}`);
  twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, `127.0.0.1:${twinPort}`);
  nc = await connectNats(urls.natsUrl, 'jobs-int-devices');
  pool = createPool(urls.databaseUrl, 'jobs-int-reader', 2);
  ctx.lifecycle.onStop('reader-pool', () => pool.end());
});

afterAll(async () => {
  registry?.close();
  twin?.close();
  await nc?.close();
  await ctx[Symbol.asyncDispose]();
});

/** A hub with devices, and a jobs process (or several) scoped to it. */
async function setup(deviceCount: number, env: Record<string, string> = {}, processes = 1) {
  const hub = uniqueName('jobs');
  await registry.ensureHub({ hub });
  const ids = Array.from({ length: deviceCount }, (_, i) => `dev${String(i).padStart(3, '0')}`);
  for (const deviceId of ids) await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId }) });
  const apps: JobsApp[] = [];
  for (let i = 0; i < processes; i++) {
    apps.push(
      await createJobsApp(
        loadJobsConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', TWIN_GRPC_URL: `127.0.0.1:${twinPort}`, REGISTRY_GRPC_URL: `127.0.0.1:${registryPort}`, JOBS_HUBS: hub, JOBS_POLL_MS: '50', ...env }),
        ctx,
      ),
    );
  }
  const jobs = connectClient(jobsV1.JobsServiceClient, jobsV1.JobsServiceService, `127.0.0.1:${apps[0]!.grpcPort}`);
  ctx.lifecycle.onStop('jobs-client', () => jobs.close());
  const create = async (jobId: string, body: Loose) => JSON.parse((await jobs.createJob({ hub, jobId, jobJson: JSON.stringify({ jobId, ...body }) })).jobJson) as Loose;
  const get = async (jobId: string) => JSON.parse((await jobs.getJob({ hub, jobId })).jobJson) as Loose;
  const until = async (jobId: string, done: (j: Loose) => boolean, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const j = await get(jobId);
      if (done(j)) return j;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${j.status}: ${JSON.stringify(j.deviceJobStatistics)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const deviceJobs = async (query: string, pageSize = 0) => {
    const out: Loose[] = [];
    let continuation = '';
    do {
      const page = await jobs.queryDeviceJobs({ hub, query, pageSize, continuation });
      out.push(...(JSON.parse(page.itemsJson) as Loose[]));
      continuation = page.continuation ?? '';
    } while (continuation);
    return out;
  };
  return { hub, ids, apps, jobs, create, get, until, deviceJobs };
}

/** Answers direct methods for these devices as the gateway holding them would. */
function answerMethods(hub: string, deviceIds: readonly string[], reply: (deviceId: string, req: Loose) => Loose | undefined) {
  const subs = deviceIds.map((deviceId) =>
    nc.subscribe(subjects.method(subjects.identity(hub, deviceId)), {
      callback: (_err, m) => {
        const r = reply(deviceId, m.json());
        if (r) m.respond(JSON.stringify(r));
      },
    }),
  );
  return () => subs.forEach((s) => s.unsubscribe());
}

const isDone = (j: Loose) => ['completed', 'failed', 'cancelled'].includes(j.status);

describe('jobs service (checklist N 241–254)', () => {
  it('runs a twin-update job on the devices its condition selects, once each, with statistics and devices.jobs records', async () => {
    const s = await setup(5);
    await twin.updateTwin({ key: { hub: s.hub, deviceId: 'dev001', moduleId: '' }, patchJson: JSON.stringify({ tags: { building: '43' } }) });
    await twin.updateTwin({ key: { hub: s.hub, deviceId: 'dev003', moduleId: '' }, patchJson: JSON.stringify({ tags: { building: '43' } }) });
    const created = await s.create('twin-job', {
      type: 'scheduleTwinUpdate',
      updateTwin: { etag: '*', tags: { state: 'WA' }, properties: { desired: { floor: 3 }, reported: {} } },
      queryCondition: "tags.building = '43'",
      startTime: new Date().toISOString(),
      maxExecutionTimeInSeconds: 300,
    });
    expect(created).toMatchObject({ jobId: 'twin-job', type: 'scheduleUpdateTwin', status: expect.stringMatching(/^(queued|running)$/), maxExecutionTimeInSeconds: 300 });
    const done = await s.until('twin-job', isDone);
    expect(done).toMatchObject({ status: 'completed', endTime: expect.any(String), deviceJobStatistics: { deviceCount: 2, succeededCount: 2, failedCount: 0, runningCount: 0, pendingCount: 0 } });
    for (const id of ['dev001', 'dev003']) {
      const t = JSON.parse((await twin.getTwin({ key: { hub: s.hub, deviceId: id, moduleId: '' } })).twinJson) as Loose;
      expect(t.tags).toEqual({ building: '43', state: 'WA' });
      expect(t.properties.desired).toMatchObject({ floor: 3, $version: 2 }); // applied exactly once
    }
    const untouched = JSON.parse((await twin.getTwin({ key: { hub: s.hub, deviceId: 'dev002', moduleId: '' } })).twinJson) as Loose;
    expect(untouched.properties.desired.$version).toBe(1);
    const records = await s.deviceJobs("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'twin-job'");
    expect(records.map((r) => r.deviceId)).toEqual(['dev001', 'dev003']);
    expect(records[0]).toMatchObject({ jobId: 'twin-job', jobType: 'scheduleUpdateTwin', status: 'completed', startTimeUtc: expect.any(String), endTimeUtc: expect.any(String), createdDateTimeUtc: expect.any(String), lastUpdatedDateTimeUtc: expect.any(String), outcome: { deviceMethodResponse: null } });
    await expect(s.create('twin-job', { type: 'scheduleTwinUpdate', updateTwin: { tags: {} }, queryCondition: "deviceId = 'x'" })).rejects.toMatchObject({ code: 'EntityAlreadyExists' });
  });

  it('runs a method job: answering devices succeed with their response, an offline device fails with DeviceNotOnline', async () => {
    const s = await setup(3);
    const asked: string[] = [];
    const stop = answerMethods(s.hub, ['dev000', 'dev001'], (deviceId, req) => {
      asked.push(`${deviceId}:${req.methodName}`);
      return { status: 200, payload: { locked: deviceId } };
    });
    try {
      await s.create('lock', { type: 'scheduleDirectMethod', cloudToDeviceMethod: { methodName: 'lockDoor', payload: null, responseTimeoutInSeconds: 15 }, queryCondition: "deviceId IN ['dev000', 'dev001', 'dev002']" });
      const done = await s.until('lock', isDone);
      expect(done).toMatchObject({ status: 'completed', type: 'scheduleDeviceMethod', cloudToDeviceMethod: { methodName: 'lockDoor', responseTimeoutInSeconds: 15 }, deviceJobStatistics: { deviceCount: 3, succeededCount: 2, failedCount: 1 } });
      expect(asked.sort()).toEqual(['dev000:lockDoor', 'dev001:lockDoor']);
      const records = await s.deviceJobs("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'lock' AND devices.jobs.status = 'failed'");
      expect(records).toEqual([expect.objectContaining({ deviceId: 'dev002', error: { code: 'DeviceNotOnline', description: expect.stringMatching(/not online/) } })]);
      const ok = await s.deviceJobs("SELECT * FROM devices.jobs WHERE devices.jobs.deviceId = 'dev000'");
      expect(ok[0]!.outcome).toEqual({ deviceMethodResponse: { status: 200, payload: { locked: 'dev000' } } });
    } finally {
      stop();
    }
  });

  it('holds a future job as scheduled, then runs it; lists jobs by type and status in pages', async () => {
    const s = await setup(1);
    const start = new Date(Date.now() + 1500).toISOString();
    expect((await s.create('later', { type: 'scheduleUpdateTwin', updateTwin: { properties: { desired: { x: 1 } } }, queryCondition: "deviceId = 'dev000'", startTime: start })).status).toBe('scheduled');
    await s.create('now-1', { type: 'scheduleUpdateTwin', updateTwin: { tags: { a: 1 } }, queryCondition: "deviceId = 'dev000'" });
    await s.create('now-2', { type: 'scheduleDeviceMethod', cloudToDeviceMethod: { methodName: 'm' }, queryCondition: "deviceId = 'dev000'" });
    expect((await s.get('later')).status).toBe('scheduled');
    const later = await s.until('later', isDone);
    expect(later).toMatchObject({ status: 'completed', startTime: start });
    expect(new Date(later.endTime as string).getTime()).toBeGreaterThanOrEqual(new Date(start).getTime());
    await s.until('now-2', isDone);
    const list = async (jobType: string, jobStatus: string, pageSize: number) => {
      const out: string[] = [];
      let continuation = '';
      let pages = 0;
      do {
        const page = await s.jobs.queryJobs({ hub: s.hub, jobType, jobStatus, pageSize, continuation });
        out.push(...(JSON.parse(page.itemsJson) as Loose[]).map((j) => j.jobId as string));
        continuation = page.continuation ?? '';
        pages++;
      } while (continuation);
      return { out, pages };
    };
    expect((await list('', '', 2)).out.sort()).toEqual(['later', 'now-1', 'now-2']);
    expect((await list('', '', 2)).pages).toBe(2);
    expect((await list('scheduleUpdateTwin', 'completed', 10)).out.sort()).toEqual(['later', 'now-1']);
    expect((await list('scheduleDirectMethod', '', 10)).out).toEqual(['now-2']);
    expect((await list('', 'cancelled', 10)).out).toEqual([]);
  });

  it('cancels: a scheduled job never runs; a running job leaves its unreached devices cancelled', async () => {
    const s = await setup(12, { JOBS_DEVICE_OPS_PER_SECOND: '4' });
    await s.create('never', { type: 'scheduleUpdateTwin', updateTwin: { tags: { never: true } }, queryCondition: "deviceId = 'dev000'", startTime: new Date(Date.now() + 60_000).toISOString() });
    expect(JSON.parse((await s.jobs.cancelJob({ hub: s.hub, jobId: 'never' })).jobJson)).toMatchObject({ status: 'cancelled', deviceJobStatistics: { deviceCount: 0 } });
    await s.create('slow', { type: 'scheduleUpdateTwin', updateTwin: { tags: { slow: true } }, queryCondition: "deviceId >= 'dev000'" });
    await s.until('slow', (j) => j.deviceJobStatistics.succeededCount >= 1);
    const cancelled = JSON.parse((await s.jobs.cancelJob({ hub: s.hub, jobId: 'slow' })).jobJson) as Loose;
    expect(cancelled.status).toBe('cancelled');
    const settled = await s.until('slow', (j) => j.deviceJobStatistics.runningCount === 0);
    expect(settled.deviceJobStatistics.deviceCount).toBe(12);
    expect(settled.deviceJobStatistics.pendingCount).toBe(0);
    expect(settled.deviceJobStatistics.succeededCount).toBeLessThan(12);
    const records = await s.deviceJobs("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'slow' AND devices.jobs.status = 'cancelled'");
    expect(records.length).toBe(12 - settled.deviceJobStatistics.succeededCount);
    expect(await s.deviceJobs("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'never'")).toEqual([]);
  });

  it('fails a job that passes maxExecutionTimeInSeconds; its unfinished devices fail with JobTimedOut', async () => {
    const s = await setup(2);
    const stop = answerMethods(s.hub, ['dev000', 'dev001'], (deviceId) => (deviceId === 'dev000' ? { status: 200, payload: null } : undefined)); // dev001 never answers
    try {
      await s.create('short', { type: 'scheduleDeviceMethod', cloudToDeviceMethod: { methodName: 'slow', responseTimeoutInSeconds: 30 }, queryCondition: "deviceId IN ['dev000', 'dev001']", maxExecutionTimeInSeconds: 1 });
      const done = await s.until('short', isDone);
      expect(done).toMatchObject({ status: 'failed', failureReason: expect.stringMatching(/maxExecutionTimeInSeconds/), deviceJobStatistics: { deviceCount: 2, succeededCount: 1, failedCount: 1, runningCount: 0 } });
      const failed = await s.deviceJobs("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'short' AND devices.jobs.status = 'failed'");
      expect(failed).toEqual([expect.objectContaining({ deviceId: 'dev001', error: expect.objectContaining({ code: 'JobTimedOut' }) })]);
    } finally {
      stop();
    }
  });

  it('limits active jobs per hub (429 ThrottlingException) and refuses bad jobs with 400', async () => {
    const s = await setup(1, { JOBS_MAX_CONCURRENT_PER_HUB: '1' });
    const later = new Date(Date.now() + 60_000).toISOString();
    await s.create('first', { type: 'scheduleUpdateTwin', updateTwin: { tags: { a: 1 } }, queryCondition: "deviceId = 'dev000'", startTime: later });
    await expect(s.create('second', { type: 'scheduleUpdateTwin', updateTwin: { tags: { a: 1 } }, queryCondition: "deviceId = 'dev000'" })).rejects.toMatchObject({ code: 'ThrottlingException' });
    await s.jobs.cancelJob({ hub: s.hub, jobId: 'first' });
    await s.create('second', { type: 'scheduleUpdateTwin', updateTwin: { tags: { a: 1 } }, queryCondition: "deviceId = 'dev000'", startTime: later });
    const bad: Loose[] = [
      { type: 'scheduleTwinUpdate', updateTwin: { tags: { a: 1 } }, queryCondition: "deviceId = 'x' OR" },
      { type: 'scheduleTwinUpdate', updateTwin: { properties: { reported: { a: 1 } } }, queryCondition: "deviceId = 'x'" },
      { type: 'reboot', queryCondition: "deviceId = 'x'" },
      { type: 'scheduleDeviceMethod', cloudToDeviceMethod: { methodName: 'a b' }, queryCondition: "deviceId = 'x'" },
      { type: 'scheduleDeviceMethod', cloudToDeviceMethod: { methodName: 'm' }, queryCondition: "deviceId = 'x'", startTime: 'tomorrow' },
    ];
    for (const [i, body] of bad.entries()) await expect(s.create(`bad-${i}`, body)).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await expect(s.get('no-such-job')).rejects.toMatchObject({ code: 'JobNotFound' });
  });

  it('paces device operations by the hub rate shared across processes, and two processes run each device once', async () => {
    const s = await setup(30, { JOBS_DEVICE_OPS_PER_SECOND: '20' }, 2);
    await s.create('paced', { type: 'scheduleUpdateTwin', updateTwin: { properties: { desired: { paced: true } } }, queryCondition: "deviceId >= 'dev'" });
    await s.until('paced', isDone);
    const { rows } = await pool.query<{ first: Date; last: Date; n: string; attempts: string }>(
      "SELECT min(start_time) AS first, max(start_time) AS last, count(*) AS n, max(attempt) AS attempts FROM jobs.device_jobs WHERE hub = $1 AND job_id = 'paced'",
      [s.hub],
    );
    // a bucket of one second (20) at once, the other 10 at 20/s: at least ~0.5 s between first and last start
    expect(Number(rows[0]!.n)).toBe(30);
    expect(rows[0]!.last.getTime() - rows[0]!.first.getTime()).toBeGreaterThanOrEqual(400);
    expect(Number(rows[0]!.attempts)).toBe(1);
    const versions = await Promise.all(s.ids.map(async (deviceId) => (JSON.parse((await twin.getTwin({ key: { hub: s.hub, deviceId, moduleId: '' } })).twinJson) as Loose).properties.desired.$version as number));
    expect(new Set(versions)).toEqual(new Set([2]));
  });

  it('survives a jobs process that died holding device operations: their leases lapse and another process finishes them', async () => {
    const s = await setup(4, {}, 1);
    // the job is stored, and a dead process left two devices claimed with leases that have lapsed
    await s.apps[0]!.runner.stop();
    await s.create('orphaned', { type: 'scheduleUpdateTwin', updateTwin: { tags: { healed: true } }, queryCondition: "deviceId >= 'dev'" });
    await pool.query("UPDATE jobs.jobs SET status = 'running', expanded = true WHERE hub = $1 AND job_id = 'orphaned'", [s.hub]);
    await pool.query(
      `INSERT INTO jobs.device_jobs (hub, job_id, device_id, status, attempt, lease_until, start_time)
       SELECT $1, 'orphaned', d, CASE WHEN d < 'dev002' THEN 'running' ELSE 'pending' END, CASE WHEN d < 'dev002' THEN 1 ELSE 0 END, now() - interval '1 second', now()
       FROM unnest($2::text[]) d`,
      [s.hub, s.ids],
    );
    const survivor = await createJobsApp(
      loadJobsConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', TWIN_GRPC_URL: `127.0.0.1:${twinPort}`, JOBS_HUBS: s.hub, JOBS_POLL_MS: '50' }),
      ctx,
    );
    expect(survivor.grpcPort).toBeGreaterThan(0);
    const done = await s.until('orphaned', isDone);
    expect(done).toMatchObject({ status: 'completed', deviceJobStatistics: { deviceCount: 4, succeededCount: 4 } });
    const { rows } = await pool.query<{ device_id: string; attempt: number }>("SELECT device_id, attempt FROM jobs.device_jobs WHERE hub = $1 AND job_id = 'orphaned' ORDER BY device_id", [s.hub]);
    expect(rows.map((r) => r.attempt)).toEqual([2, 2, 1, 1]);
  });
});
