import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Client as DeviceClient } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { JobClient, Registry } from 'azure-iothub';
import { createDevice } from './devices.js';
import { ownerConnectionString } from './helpers.js';

// Scenario 20 and checklist N with azure-iothub's JobClient against the running hub.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;
const jobClient = () => JobClient.fromConnectionString(ownerConnectionString());
const registry = () => Registry.fromConnectionString(ownerConnectionString());

/** `monitorJob` of the sample: getJob until completed, failed or cancelled. */
async function monitorJob(jobId: string, timeoutMs = 20_000): Promise<Loose> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { jobStatus } = (await jobClient().getJob(jobId)) as { jobStatus: Loose };
    if (['completed', 'failed', 'cancelled'].includes(jobStatus.status)) return jobStatus;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${jobStatus.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('jobs with azure-iothub JobClient (scenario 20)', () => {
  it('schedules lockDoor and a twin update on the devices a query selects and polls both to completed', async () => {
    const d = await createDevice('myDeviceId');
    const offline = await createDevice('offline');
    const device = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await device.open();
    const locked: string[] = [];
    device.onDeviceMethod('lockDoor', (req, res) => {
      locked.push(req.methodName);
      res.send(200, (err) => expect(err).toBeFalsy());
    });
    try {
      const methodJobId = randomUUID();
      const scheduled = (await jobClient().scheduleDeviceMethod(methodJobId, `deviceId IN ['${d.deviceId}', '${offline.deviceId}']`, { methodName: 'lockDoor', payload: null, responseTimeoutInSeconds: 15 }, new Date(), 300)) as { jobStatus: Loose };
      expect(scheduled.jobStatus).toMatchObject({ jobId: methodJobId, type: 'scheduleDeviceMethod' });
      const methodJob = await monitorJob(methodJobId);
      expect(methodJob).toMatchObject({
        jobId: methodJobId,
        type: 'scheduleDeviceMethod',
        status: 'completed',
        startTime: expect.any(String),
        endTime: expect.any(String),
        queryCondition: `deviceId IN ['${d.deviceId}', '${offline.deviceId}']`,
        maxExecutionTimeInSeconds: 300,
        deviceJobStatistics: { deviceCount: 2, failedCount: 1, succeededCount: 1, runningCount: 0, pendingCount: 0 },
      });
      expect(locked).toEqual(['lockDoor']);

      const twinJobId = randomUUID();
      await jobClient().scheduleTwinUpdate(twinJobId, `deviceId IN ['${d.deviceId}']`, { etag: '*', tags: { state: 'WA' }, properties: { desired: { building: '43', floor: 3 }, reported: {} } }, new Date(), 3600);
      const twinJob = await monitorJob(twinJobId);
      expect(twinJob).toMatchObject({ status: 'completed', type: 'scheduleUpdateTwin', deviceJobStatistics: { deviceCount: 1, succeededCount: 1 } });
      const twin = (await registry().getTwin(d.deviceId)).responseBody;
      expect(twin.properties.desired).toMatchObject({ building: '43', floor: 3 });
      expect(twin.tags).toEqual({ state: 'WA' });

      // per-device records through the twin query endpoint
      const q = registry().createQuery(`SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '${methodJobId}'`);
      const records = ((await q.next()).result as Loose[]).sort((a, b) => String(a.deviceId).localeCompare(String(b.deviceId)));
      expect(records).toHaveLength(2);
      const byDevice = Object.fromEntries(records.map((r) => [r.deviceId, r]));
      expect(byDevice[d.deviceId]).toMatchObject({ jobId: methodJobId, jobType: 'scheduleDeviceMethod', status: 'completed', outcome: { deviceMethodResponse: { status: 200 } } });
      expect(byDevice[offline.deviceId]).toMatchObject({ status: 'failed', error: { code: 'DeviceNotOnline' } });
    } finally {
      await device.close();
    }
  });

  it('shows a future job as scheduled, cancels it, and finds it by type and status in the job query', async () => {
    const d = await createDevice('later');
    const jobId = randomUUID();
    const start = new Date(Date.now() + 3_600_000);
    await jobClient().scheduleTwinUpdate(jobId, `deviceId = '${d.deviceId}'`, { properties: { desired: { x: 1 } } }, start, 600);
    expect(((await jobClient().getJob(jobId)) as { jobStatus: Loose }).jobStatus).toMatchObject({ status: 'scheduled', startTime: start.toISOString() });
    const cancelled = (await jobClient().cancelJob(jobId)) as { jobStatus: Loose };
    expect(cancelled.jobStatus.status).toBe('cancelled');
    const query = jobClient().createQuery('scheduleUpdateTwin', 'cancelled', 50);
    const found: Loose[] = [];
    while (query.hasMoreResults) found.push(...((await query.next()).result as Loose[]));
    expect(found.map((j) => j.jobId)).toContain(jobId);
    expect(found.every((j) => j.type === 'scheduleUpdateTwin' && j.status === 'cancelled')).toBe(true);
    await expect(jobClient().getJob('no-such-job')).rejects.toMatchObject({ message: 'Not found', responseBody: expect.stringContaining('ErrorCode:JobNotFound;') });
  });
});
