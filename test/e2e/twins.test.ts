import { describe, expect, it } from 'vitest';
import { Client as DeviceClient, ModuleClient, type Twin as DeviceTwin } from 'azure-iot-device';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { Amqp, AmqpWs } from 'azure-iot-device-amqp';
import { Client as ServiceClient, Registry } from 'azure-iothub';
import { createDevice, createModule, reportProperties } from './devices.js';
import { hubFetch, ownerConnectionString, poll } from './helpers.js';

const registry = () => Registry.fromConnectionString(ownerConnectionString());

/** Resolve with the first desired delta that satisfies `pred`. */
function nextDesired(twin: DeviceTwin, pred: (d: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (delta: Record<string, unknown>) => {
      if (pred(delta)) {
        twin.removeListener('properties.desired', on);
        resolve(delta);
      }
    };
    twin.on('properties.desired', on);
  });
}

describe.each([
  ['Mqtt', Mqtt],
  ['MqttWs', MqttWs],
  ['Amqp', Amqp],
  ['AmqpWs', AmqpWs],
] as const)('device twin over %s', (_name, Transport) => {
  it('gets the twin, reports properties, and receives desired patches with nulls kept', async () => {
    const d = await createDevice('twin');
    const client = DeviceClient.fromConnectionString(d.connectionString, Transport);
    await client.open();
    const twin = await client.getTwin();
    expect(twin.properties.desired.$version).toBe(1);
    expect(twin.properties.reported.$version).toBe(1);

    await reportProperties(twin, { firmware: '1.2.3', nested: { a: 1 } });
    const svc = (await registry().getTwin(d.deviceId)).responseBody;
    expect(svc.properties.reported).toMatchObject({ firmware: '1.2.3', nested: { a: 1 }, $version: 2 });
    expect(svc.properties.reported.$metadata).toMatchObject({ firmware: { $lastUpdated: expect.any(String) }, nested: { a: { $lastUpdated: expect.any(String) }, $lastUpdated: expect.any(String) } });
    expect(svc.etag).toBe('AAAAAAAAAAE='); // reported writes leave the twin etag alone

    const first = nextDesired(twin, (delta) => delta['telemetryInterval'] !== undefined);
    // adding the listener makes the SDK ask for desired pushes, with no event when that is done; a GET
    // sent after it on the same link returns only once the hub has handled the request before it
    await twin.get();
    await registry().updateTwin(d.deviceId, { properties: { desired: { telemetryInterval: 5, remove: 'me' } } }, '*');
    expect(await first).toMatchObject({ telemetryInterval: 5, $version: 2 });
    const deletion = nextDesired(twin, (delta) => 'remove' in delta && delta['remove'] === null);
    await registry().updateTwin(d.deviceId, { properties: { desired: { remove: null } } }, '*');
    expect(await deletion).toMatchObject({ remove: null, $version: 3 });
    await client.close();
  });
});

describe('service twin API (azure-iothub)', () => {
  it('updates with the twin etag, rejects a stale etag with 412, and returns the full twin', async () => {
    const d = await createDevice('etag');
    const { responseBody: twin } = await registry().getTwin(d.deviceId);
    expect(twin).toMatchObject({ deviceId: d.deviceId, etag: 'AAAAAAAAAAE=', status: 'enabled', authenticationType: 'sas', version: 1, connectionState: 'Disconnected' });
    expect(twin.properties.desired).toMatchObject({ $version: 1, $metadata: { $lastUpdated: expect.any(String) } });
    const { result: updated } = await twin.update({ tags: { building: '43', floor: 1 }, properties: { desired: { mode: 'eco' } } });
    expect(updated.tags).toEqual({ building: '43', floor: 1 });
    expect(updated.properties.desired).toMatchObject({ mode: 'eco', $version: 2 });
    expect(updated.etag).not.toBe('AAAAAAAAAAE=');
    // a Twin object read before that update carries the old etag (Twin.update refreshes only its own object)
    const { responseBody: stale } = await registry().getTwin(d.deviceId);
    await registry().updateTwin(d.deviceId, { tags: { floor: 1.5 } }, updated.etag);
    await expect(stale.update({ tags: { floor: 2 } })).rejects.toMatchObject({ name: 'InvalidEtagError' });
    const { responseBody: fresh } = await registry().getTwin(d.deviceId);
    // Registry.updateTwin with the current etag
    const { responseBody: again } = await registry().updateTwin(d.deviceId, { tags: { floor: 2 } }, fresh.etag);
    expect(again.tags).toEqual({ building: '43', floor: 2 });
    await expect(registry().updateTwin(d.deviceId, { tags: { floor: 3 } }, fresh.etag)).rejects.toMatchObject({ name: 'InvalidEtagError' });
  });

  it('replaces tags and desired with PUT, and 404s for a missing or deleted device', async () => {
    const d = await createDevice('put');
    await registry().updateTwin(d.deviceId, { tags: { a: 1 }, properties: { desired: { x: 1 } } }, '*');
    const res = await hubFetch(`/twins/${d.deviceId}`, { method: 'PUT', headers: { 'if-match': '"*"' }, body: JSON.stringify({ tags: { b: 2 }, properties: { desired: { y: 2 } } }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { tags: unknown; properties: { desired: Record<string, unknown> } };
    expect(body.tags).toEqual({ b: 2 });
    expect(body.properties.desired).toMatchObject({ y: 2, $version: 3 });
    expect(body.properties.desired['x']).toBeUndefined();
    await registry().delete(d.deviceId);
    await expect(registry().getTwin(d.deviceId)).rejects.toMatchObject({ name: 'DeviceNotFoundError' });
  });

  it.each([
    ['Mqtt', Mqtt],
    ['Amqp', Amqp],
  ] as const)('serves module twins to module clients on %s and the service', async (_name, Transport) => {
    const d = await createDevice('modtwin');
    const m = await createModule(d.deviceId, 'sensor');
    const mod = ModuleClient.fromConnectionString(m.connectionString, Transport);
    await mod.open();
    const twin = await mod.getTwin();
    const desired = nextDesired(twin, (delta) => delta['threshold'] !== undefined);
    await reportProperties(twin, { temperature: 21 });
    const { responseBody: svc } = await registry().getModuleTwin(d.deviceId, 'sensor');
    expect(svc).toMatchObject({ deviceId: d.deviceId, moduleId: 'sensor', properties: { reported: { temperature: 21 } } });
    await registry().updateModuleTwin(d.deviceId, 'sensor', { properties: { desired: { threshold: 30 } } }, '*');
    expect(await desired).toMatchObject({ threshold: 30 });
    // the device twin is separate
    expect((await registry().getTwin(d.deviceId)).responseBody.properties.reported.temperature).toBeUndefined();
    await mod.close();
  });

  it('rejects twin limit violations with 400 in the IoT Hub format', async () => {
    const d = await createDevice('limits');
    const bad: unknown[] = [
      { tags: { 'a.b': 1 } },
      { tags: { list: [1, 2] } },
      { properties: { desired: { $x: 1 } } },
      { properties: { desired: { l1: { l2: { l3: { l4: { l5: { l6: { v: 1 } } } } } } } } },
      { properties: { desired: { s: 'x'.repeat(513) } } },
      { properties: { desired: { n: 2 ** 53 } } },
      { properties: { desired: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(500)])) } },
      { properties: { reported: { a: 1 } } },
      {},
    ];
    for (const patch of bad) {
      const res = await hubFetch(`/twins/${d.deviceId}`, { method: 'PATCH', body: JSON.stringify(patch) });
      expect(res.status, JSON.stringify(patch).slice(0, 60)).toBe(400);
      expect(((await res.json()) as { Message: string }).Message).toMatch(/^ErrorCode:ArgumentInvalid;/);
    }
    const malformed = await hubFetch(`/twins/${d.deviceId}`, { method: 'PATCH', body: '{"tags": ' });
    expect(malformed.status).toBe(400);
    // nothing was applied
    expect(((await registry().getTwin(d.deviceId)).responseBody as unknown as { version: number }).version).toBe(1);
  });

  it('refuses an invalid reported patch from the device as an SDK error, and keeps the connection', async () => {
    const d = await createDevice('badrep');
    const client = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    const twin = await client.getTwin();
    await expect(reportProperties(twin, { 'bad.key': 1 })).rejects.toThrow(/key/);
    await reportProperties(twin, { good: true });
    expect((await registry().getTwin(d.deviceId)).responseBody.properties.reported.good).toBe(true);
    await client.close();
  });
});

describe('scenarios', () => {
  it('scenario 14: seven desired patches, device merges and reports state', async () => {
    const d = await createDevice('tut');
    const client = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    const twin = await client.getTwin();
    const seen: string[] = [];
    const local: Record<string, unknown> = {};
    let lastPatch = '';
    twin.on('properties.desired', (delta: Record<string, unknown>) => {
      if (typeof delta['patchId'] === 'string') lastPatch = delta['patchId'];
      const comps = delta['components'] as Record<string, unknown> | undefined;
      if (comps && 'wifi' in comps) seen.push(comps['wifi'] === null ? 'Deleting component wifi' : 'wifi changed');
      if (comps && comps['climate']) Object.assign(local, comps['climate']);
    });
    const service = (await registry().getTwin(d.deviceId)).responseBody;
    const patches = [
      { properties: { desired: null } },
      { patchId: 'Init', fanOn: 'false', components: { system: { id: '17', units: 'farenheit', firmwareVersion: '9.75' }, climate: { minTemperature: '68', maxTemperature: '76' } } },
      { patchId: 'Switch fan on', fanOn: 'false' },
      { patchId: 'Set maximum temperature', components: { climate: { maxTemperature: '92' } } },
      { patchId: 'Add WiFi component', components: { wifi: { channel: '6', ssid: 'my_network' } } },
      { patchId: 'Update WiFi component', components: { wifi: { channel: '13', ssid: 'my_other_network' } } },
      { patchId: 'Delete WiFi component', components: { wifi: null } },
    ];
    let current = service;
    for (const [i, p] of patches.entries()) {
      current = (await current.update(i === 0 ? p : { properties: { desired: p } })).result;
      if (i === 3) {
        await poll(async () => lastPatch, (v) => v === 'Set maximum temperature');
        await reportProperties(twin, { firmwareVersion: '1.2.1', lastPatchReceivedId: lastPatch, fanOn: 'false', minTemperature: local['minTemperature'], maxTemperature: local['maxTemperature'] });
      }
    }
    await poll(async () => seen.length, (n) => n >= 3);
    expect(seen).toEqual(['wifi changed', 'wifi changed', 'Deleting component wifi']);
    // the PATCH answer carries current reported properties and the new etag
    expect(current.properties.reported).toMatchObject({ lastPatchReceivedId: 'Set maximum temperature', firmwareVersion: '1.2.1', minTemperature: '68', maxTemperature: '92' });
    expect(current.properties.desired.components).toEqual({ system: { id: '17', units: 'farenheit', firmwareVersion: '9.75' }, climate: { minTemperature: '68', maxTemperature: '92' } });
    await client.close();
  });

  it('scenario 11: reboot method, then lastReboot in reported properties', async () => {
    const d = await createDevice('reboot');
    const client = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    client.onDeviceMethod('reboot', (_req, res) => {
      void res.send(200, 'Reboot started').then(async () => {
        const twin = await client.getTwin();
        await reportProperties(twin, { iothubDM: { reboot: { lastReboot: new Date().toISOString() } } });
      });
    });
    const invoked = await ServiceClient.fromConnectionString(ownerConnectionString()).invokeDeviceMethod(d.deviceId, { methodName: 'reboot', payload: null, timeoutInSeconds: 30 } as never);
    expect(invoked.result).toEqual({ status: 200, payload: 'Reboot started' });
    const twin = await poll(
      async () => (await registry().getTwin(d.deviceId)).responseBody,
      (t) => !!(t.properties.reported as Record<string, unknown>)['iothubDM'],
    );
    expect(Date.parse((twin.properties.reported as { iothubDM: { reboot: { lastReboot: string } } }).iothubDM.reboot.lastReboot)).toBeGreaterThan(Date.now() - 60_000);
    await client.close();
  });

  it('scenario 15: after reconnecting, the full desired document, then higher $versions', async () => {
    const d = await createDevice('recon');
    await registry().updateTwin(d.deviceId, { properties: { desired: { offline: 'change' } } }, '*');
    const client = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    const twin = await client.getTwin();
    expect(twin.properties.desired).toMatchObject({ offline: 'change', $version: 2 });
    const next = nextDesired(twin, (delta) => delta['online'] !== undefined);
    await registry().updateTwin(d.deviceId, { properties: { desired: { online: 'change' } } }, '*');
    expect((await next)['$version']).toBe(3);
    await client.close();
  });
});

describe('IoT Plug and Play conventions', () => {
  it('stores the model id from the connection and component properties and acks as sent', async () => {
    const d = await createDevice('pnp');
    const client = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await client.setOptions({ modelId: 'dtmi:com:example:TemperatureController;2' });
    await client.open();
    const twin = await client.getTwin();
    const component = { thermostat1: { __t: 'c', maxTempSinceLastReboot: 22.5 } };
    const ack = { targetTemperature: { value: 21, ac: 200, av: 2, ad: 'completed' } };
    await reportProperties(twin, { ...component, ...ack, serialNumber: 'SN-1' });
    const svc = (await registry().getTwin(d.deviceId)).responseBody as unknown as { modelId: string; properties: { reported: Record<string, unknown> } };
    expect(svc.modelId).toBe('dtmi:com:example:TemperatureController;2');
    expect(svc.properties.reported).toMatchObject({ ...component, ...ack, serialNumber: 'SN-1' });
    await client.close();
  });
});
