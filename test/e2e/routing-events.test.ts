import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'azure-iothub';
import { createDevice, createModule } from './devices.js';
import { hub, hubFetch, ownerConnectionString, poll } from './helpers.js';
import { natsEndpoint, putRouting, resetRouting, sendWithSdk, webhook } from './routing.js';

// every test configures routing for itself; the other test files expect IoT Hub's default
afterEach(async () => {
  await resetRouting();
});
afterAll(async () => {
  await resetRouting();
});

describe('non-telemetry routing sources and Event Grid-style subscriptions (devguide §6, scenarios 28–29)', () => {
  it('scenario 28: device lifecycle, module lifecycle and twin-change events reach routes of their source only', async () => {
    await putRouting({
      endpoints: { natsSubjects: [{ name: 'lifecycle' }, { name: 'twins' }, { name: 'telemetry' }, { name: 'conn' }] },
      routes: [
        { name: 'life', source: 'DeviceLifecycleEvents', condition: 'true', endpointNames: ['lifecycle'] },
        { name: 'modlife', source: 'ModuleLifecycleEvents', condition: 'true', endpointNames: ['lifecycle'] },
        { name: 'twin', source: 'TwinChangeEvents', condition: "$body.properties.reported.battery > 50 OR opType = 'replaceTwin' OR IS_DEFINED($body.tags)", endpointNames: ['twins'] },
        { name: 'telemetryOnly', source: 'DeviceMessages', condition: 'true', endpointNames: ['telemetry'] },
        { name: 'connections', source: 'DeviceConnectionStateEvents', condition: "opType = 'deviceConnected' OR opType = 'deviceDisconnected'", endpointNames: ['conn'] },
      ],
    });
    const conn = await natsEndpoint('conn');
    const lifecycle = await natsEndpoint('lifecycle');
    const twins = await natsEndpoint('twins');
    const telemetry = await natsEndpoint('telemetry');
    const registry = Registry.fromConnectionString(ownerConnectionString());
    const device = await createDevice('life');
    const mine = (m: { applicationProperties: Record<string, string> }) => m.applicationProperties['deviceId'] === device.deviceId;
    await createModule(device.deviceId, 'm1');
    const t = (await registry.getTwin(device.deviceId)).responseBody;
    await t.update({ tags: { region: 'eu' } });
    await sendWithSdk(device, [{ props: { n: '1' } }]); // connects and disconnects
    await poll(async () => conn.messages.filter(mine).map((m) => m.applicationProperties['opType']), (ops) => ops.includes('deviceDisconnected'), 15_000, 'connection state events');
    expect(conn.messages.filter(mine).map((m) => m.applicationProperties['opType'])).toEqual(['deviceConnected', 'deviceDisconnected']);
    expect(JSON.parse(Buffer.from(conn.messages.find(mine)!.body).toString())).toMatchObject({ deviceId: device.deviceId, deviceConnectionStateEventInfo: { sequenceNumber: expect.any(String) as unknown } });
    await conn.close();
    await registry.delete(device.deviceId);
    await poll(async () => lifecycle.messages.filter(mine).length, (n) => n >= 3, 15_000, 'lifecycle events');
    await poll(async () => twins.messages.filter(mine).length, (n) => n >= 1, 15_000, 'twin change event');
    const ops = lifecycle.messages.filter(mine).map((m) => m.applicationProperties['opType']);
    expect(ops).toEqual(expect.arrayContaining(['createDeviceIdentity', 'createModuleIdentity', 'deleteDeviceIdentity']));
    const created = lifecycle.messages.find((m) => mine(m) && m.applicationProperties['opType'] === 'createDeviceIdentity')!;
    expect(created.systemProperties).toMatchObject({ 'content-type': 'application/json', 'content-encoding': 'utf-8', 'iothub-message-source': 'deviceLifecycleEvents' });
    expect(created.applicationProperties).toMatchObject({ hubName: hub().hub, 'iothub-message-schema': 'deviceLifecycleNotification' });
    expect(JSON.parse(Buffer.from(created.body).toString())).toMatchObject({ deviceId: device.deviceId, properties: { desired: { $version: 1 }, reported: { $version: 1 } } });
    const moduleCreated = lifecycle.messages.find((m) => mine(m) && m.applicationProperties['opType'] === 'createModuleIdentity')!;
    expect(moduleCreated.applicationProperties).toMatchObject({ moduleId: 'm1', 'iothub-message-schema': 'moduleLifecycleNotification' });
    const change = twins.messages.find(mine)!;
    expect(change.applicationProperties['opType']).toBe('updateTwin');
    expect(JSON.parse(Buffer.from(change.body).toString())).toMatchObject({ tags: { region: 'eu' } });
    // telemetry routes do not see events, and events routes do not see telemetry
    expect(telemetry.messages.filter((m) => m.applicationProperties['deviceId'] === device.deviceId)).toEqual([]);
    expect(telemetry.messages.filter((m) => m.systemProperties['iothub-connection-device-id'] === device.deviceId).map((m) => m.applicationProperties['n'])).toEqual(['1']);
    expect(lifecycle.messages.filter(mine).some((m) => m.applicationProperties['n'])).toBe(false);
    await lifecycle.close();
    await twins.close();
    await telemetry.close();
  });

  it('scenario 29: Event Grid-style subscriptions get DeviceCreated/Deleted/Connected/Disconnected, filtered by type and subject', async () => {
    const all = await webhook();
    const filtered = await webhook();
    const telemetry = await webhook();
    const subs = await hubFetch('/settings/eventSubscriptions', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { name: 'all', url: all.url },
        { name: 'only-created', url: filtered.url, includedEventTypes: ['Microsoft.Devices.DeviceCreated'], subjectBeginsWith: 'devices/eg-', subjectEndsWith: '-x' },
        { name: 'telemetry', url: telemetry.url, includedEventTypes: ['Microsoft.Devices.DeviceTelemetry'] },
      ]),
    });
    expect(subs.status).toBe(200);
    try {
      const match = await createDevice('eg-');
      const registry = Registry.fromConnectionString(ownerConnectionString());
      const other = await registry.create({ deviceId: `${match.deviceId}-x` });
      expect(other.responseBody.deviceId).toMatch(/-x$/);
      await sendWithSdk(match, [{ props: { unit: 'C' }, body: { temperature: 21.5 } }]);
      await registry.delete(match.deviceId);
      type Ev = { subject: string; eventType: string; topic: string; data: Record<string, unknown>; eventTime: string; id: string; dataVersion: string; metadataVersion: string };
      const events = () => all.accepted.flatMap((r) => JSON.parse(r.body.toString()) as Ev[]).filter((e) => e.subject === `devices/${match.deviceId}`);
      await poll(async () => events().map((e) => e.eventType), (t) => ['Created', 'Connected', 'Disconnected', 'Deleted'].every((k) => t.includes(`Microsoft.Devices.Device${k}`)), 15_000, 'four event types');
      const created = events().find((e) => e.eventType === 'Microsoft.Devices.DeviceCreated')!;
      expect(created.topic).toMatch(new RegExp(`/MICROSOFT.DEVICES/IOTHUBS/${hub().hub.toUpperCase()}$`));
      expect(created).toMatchObject({ metadataVersion: '1', data: { hubName: hub().hub, deviceId: match.deviceId, twin: { deviceId: match.deviceId } } });
      const connected = events().find((e) => e.eventType === 'Microsoft.Devices.DeviceConnected')!;
      expect(connected.data).toMatchObject({ deviceId: match.deviceId, deviceConnectionStateEventInfo: { sequenceNumber: expect.any(String) as unknown } });
      await poll(async () => filtered.accepted.length, (n) => n >= 1, 10_000, 'filtered subscription');
      await new Promise((r) => setTimeout(r, 1000));
      const got = filtered.accepted.flatMap((r) => JSON.parse(r.body.toString()) as Ev[]);
      expect(got.map((e) => [e.eventType, e.subject])).toEqual([['Microsoft.Devices.DeviceCreated', `devices/${match.deviceId}-x`]]);
      // telemetry events carry the JSON body, the application and the system properties
      await poll(async () => telemetry.accepted.length, (n) => n >= 1, 10_000, 'telemetry event');
      const tel = telemetry.accepted.flatMap((r) => JSON.parse(r.body.toString()) as Ev[]).filter((e) => e.subject === `devices/${match.deviceId}`);
      expect(tel).toHaveLength(1);
      expect(tel[0]).toMatchObject({ eventType: 'Microsoft.Devices.DeviceTelemetry', data: { body: { temperature: 21.5 }, properties: { unit: 'C' }, systemProperties: { 'iothub-connection-device-id': match.deviceId } } });
    } finally {
      await hubFetch('/settings/eventSubscriptions', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '[]' });
      await all.close();
      await filtered.close();
      await telemetry.close();
    }
  });

});
