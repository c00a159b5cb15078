import { describe, expect, it } from 'vitest';
import { uniqueName } from '@openiothub/testing';
import { collectTelemetry } from './devices.js';
import { hubFetch, iothub, poll } from './helpers.js';

// `iothub simulate` (the load test of the deployment issue) against the test hub: devices
// registered, ramped in, sending telemetry that reaches the built-in endpoint, answering a direct
// method and a desired patch sent while it runs, removed afterwards.

describe('iothub simulate', () => {
  it('runs N devices through telemetry, methods and desired patches and prints a summary', async () => {
    const prefix = uniqueName('sim');
    const telemetry = await collectTelemetry();
    try {
      const run = iothub('simulate', '--devices', '12', '--prefix', prefix, '--interval', '200', '--ramp', '1', '--duration', '4', '--payload', '128', '--json');
      // once the devices are up, the service side reaches them
      const method = await poll(
        () => hubFetch(`/twins/${prefix}-0/methods`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ methodName: 'ping', payload: { hello: 1 }, responseTimeoutInSeconds: 5 }) }),
        (r) => r.status === 200,
        10_000,
        'a simulated device answering a method',
      );
      expect(await method.json()).toEqual({ status: 200, payload: { hello: 1 } });
      const desired = await hubFetch(`/twins/${prefix}-1`, { method: 'PATCH', headers: { 'content-type': 'application/json', 'if-match': '*' }, body: JSON.stringify({ properties: { desired: { rate: 5 } } }) });
      expect(desired.status).toBe(200);
      const done = await run;
      expect(done.code, done.err).toBe(0);
      const summary = done.json() as Record<string, number>;
      expect(summary).toMatchObject({ devices: 12, connected: 12, disconnects: 0, errors: 0 });
      expect(summary['telemetrySent']).toBeGreaterThan(12 * 10);
      expect(summary['telemetryAcknowledged']).toBe(summary['telemetrySent']);
      expect(summary['methodsAnswered']).toBeGreaterThanOrEqual(1);
      expect(summary['desiredPatchesAcknowledged']).toBe(1);
      // the progress line went to stderr while it ran
      expect(done.err).toMatch(/\[#{20}\] 12\/12 connected {2}sent [\d,]+ {2}acked [\d,]+ {2}\d+ msg\/s {2}errors 0/);
      // every acknowledged message is in the built-in endpoint; the reported acknowledgement is in the twin
      await poll(async () => telemetry.seen.filter((m) => m.systemProperties['iothub-connection-device-id']?.startsWith(`${prefix}-`)).length, (n) => n >= summary['telemetryAcknowledged']!, 10_000, 'telemetry');
      // the devices were removed afterwards
      expect((await hubFetch(`/devices/${prefix}-0`)).status).toBe(404);
    } finally {
      await telemetry.stop();
    }
  });
});
