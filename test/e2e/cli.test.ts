import { describe, expect, it } from 'vitest';
import { Registry } from 'azure-iothub';
import { Client as DeviceClient, type Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { parseConnectionString, parseSasToken, verifySasSignature } from '@openiothub/auth';
import { uniqueName } from '@openiothub/testing';
import { hubFetch, iothub, ownerConnectionString } from './helpers.js';

describe('iothub CLI', () => {
  it('manages a device identity end to end', async () => {
    const id = uniqueName('cli');
    const created = await iothub('device-identity', 'create', '-d', id, '--sta', 'disabled', '--star', 'made by cli');
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ deviceId: id, status: 'disabled', statusReason: 'made by cli' });

    const shown = (await iothub('device-identity', 'show', '-d', id)).json() as { etag: string; authentication: { symmetricKey: { primaryKey: string } } };
    const updated = await iothub('device-identity', 'update', '-d', id, '--sta', 'enabled', '--etag', shown.etag);
    expect(updated.json()).toMatchObject({ status: 'enabled' });
    // the etag is stale now
    const stale = await iothub('device-identity', 'update', '-d', id, '--sta', 'disabled', '--etag', shown.etag);
    expect(stale.code).toBe(1);
    expect(stale.err).toContain('412');

    const listed = (await iothub('device-identity', 'list')).json() as Array<{ deviceId: string }>;
    expect(listed.map((d) => d.deviceId)).toContain(id);

    const cs = (await iothub('device-identity', 'connection-string', 'show', '-d', id)).json() as { connectionString: string };
    expect(parseConnectionString(cs.connectionString)).toMatchObject({ DeviceId: id, SharedAccessKey: shown.authentication.symmetricKey.primaryKey });

    const sas = (await iothub('generate-sas-token', '-d', id, '--du', '60')).json() as { sas: string };
    const token = parseSasToken(sas.sas);
    expect(token.resourceUri).toMatch(new RegExp(`/devices/${id}$`));
    expect(verifySasSignature(token, shown.authentication.symmetricKey.primaryKey)).toBe(true);

    expect((await iothub('device-identity', 'delete', '-d', id)).code).toBe(0);
    const gone = await iothub('device-identity', 'show', '-d', id);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain('DeviceNotFound');
  });

  it('manages module identities', async () => {
    const id = uniqueName('cli');
    await iothub('device-identity', 'create', '-d', id);
    expect((await iothub('module-identity', 'create', '-d', id, '-m', 'm1')).json()).toMatchObject({ deviceId: id, moduleId: 'm1' });
    expect((await iothub('module-identity', 'list', '-d', id)).json()).toEqual([expect.objectContaining({ moduleId: 'm1' })]);
    const cs = (await iothub('module-identity', 'connection-string', 'show', '-d', id, '-m', 'm1')).json() as { connectionString: string };
    expect(parseConnectionString(cs.connectionString)).toMatchObject({ DeviceId: id, ModuleId: 'm1' });
    expect((await iothub('module-identity', 'delete', '-d', id, '-m', 'm1')).code).toBe(0);
    expect((await iothub('module-identity', 'list', '-d', id)).json()).toEqual([]);
  });

  it('lists policies, renews a key, and the old key stops working', async () => {
    const policies = (await iothub('policy', 'list')).json() as Array<{ keyName: string; rights: string[] }>;
    expect(policies.map((p) => p.keyName).sort()).toEqual(['device', 'iothubowner', 'registryRead', 'registryReadWrite', 'service']);
    expect(policies.find((p) => p.keyName === 'iothubowner')?.rights).toEqual(['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect']);

    const before = (await iothub('hub', 'connection-string', 'show', '--pn', 'registryRead')).json() as { connectionString: string };
    expect((await Registry.fromConnectionString(before.connectionString).getRegistryStatistics()).responseBody).toHaveProperty('totalDeviceCount');
    const renewed = await iothub('policy', 'renew-key', '-n', 'registryRead', '--rk', 'primary');
    expect(renewed.code).toBe(0);
    const after = (await iothub('hub', 'connection-string', 'show', '--pn', 'registryRead')).json() as { connectionString: string };
    expect(after.connectionString).not.toBe(before.connectionString);
    await expect(Registry.fromConnectionString(after.connectionString).getRegistryStatistics()).resolves.toBeDefined();
    // the gateway caches policies briefly (POLICY_CACHE_MS); the old key is refused once that passes
    const deadline = Date.now() + 15_000;
    let refused = false;
    while (!refused && Date.now() < deadline) {
      refused = await Registry.fromConnectionString(before.connectionString)
        .getRegistryStatistics()
        .then(() => false, (e: Error) => e.name === 'UnauthorizedError');
      if (!refused) await new Promise((r) => setTimeout(r, 250));
    }
    expect(refused).toBe(true);
  });

  it('prints a policy SAS token the hub accepts, and fails clearly without a hub', async () => {
    const sas = (await iothub('generate-sas-token')).json() as { sas: string };
    expect((await hubFetch('/statistics/devices', { token: sas.sas })).status).toBe(200);
    const { runCli } = await import('@openiothub/cli');
    let err = '';
    const code = await runCli(['device-identity', 'list'], { out: () => {}, err: (s) => void (err += s), env: { OPENIOTHUB_LOCAL_HUB: '/nonexistent/local-hub.json' } });
    expect(code).toBe(1);
    expect(err).toMatch(/No hub to talk to: pass --login/);
    expect(ownerConnectionString()).toContain('SharedAccessKeyName=iothubowner');
  });
});

describe('iothub CLI: twins and methods', () => {
  it('shows, updates and replaces twins, and invokes device and module methods', async () => {
    const { createDevice, createModule } = await import('./devices.js');
    const { Client, ModuleClient } = await import('azure-iot-device');
    const { Mqtt } = await import('azure-iot-device-mqtt');
    const d = await createDevice('clitwin');
    const shown = (await iothub('device-twin', 'show', '-d', d.deviceId)).json() as { etag: string };
    expect(shown.etag).toBe('AAAAAAAAAAE=');
    const upd = await iothub('device-twin', 'update', '-d', d.deviceId, '--desired', '{"interval":5}', '--tags', '{"site":"a"}', '--etag', shown.etag);
    expect(upd.json()).toMatchObject({ tags: { site: 'a' }, properties: { desired: { interval: 5, $version: 2 } } });
    const stale = await iothub('device-twin', 'update', '-d', d.deviceId, '--tags', '{"site":"b"}', '--etag', shown.etag);
    expect(stale.code).toBe(1);
    expect(stale.err).toContain('PreconditionFailed');
    const rep = await iothub('device-twin', 'replace', '-d', d.deviceId, '--json', '{"tags":{"x":1},"properties":{"desired":{"y":2}}}');
    expect(rep.json()).toMatchObject({ tags: { x: 1 }, properties: { desired: { y: 2 } } });
    const bad = await iothub('device-twin', 'update', '-d', d.deviceId, '--desired', 'not json');
    expect(bad.code).toBe(1);

    const device = Client.fromConnectionString(d.connectionString, Mqtt);
    await device.open();
    device.onDeviceMethod('echo', (req, res) => void res.send(200, req.payload));
    const called = await iothub('invoke-device-method', '-d', d.deviceId, '--mn', 'echo', '--mp', '{"a":1}', '--to', '10');
    expect(called.json()).toEqual({ status: 200, payload: { a: 1 } });
    await device.close();
    const offline = await iothub('invoke-device-method', '-d', d.deviceId, '--mn', 'echo');
    expect(offline.code).toBe(1);
    expect(offline.err).toContain('DeviceNotOnline');

    const m = await createModule(d.deviceId, 'mod');
    const mod = ModuleClient.fromConnectionString(m.connectionString, Mqtt);
    await mod.open();
    mod.onMethod('ping', (_req, res) => void res!.send(201, 'pong'));
    expect((await iothub('invoke-module-method', '-d', d.deviceId, '-m', 'mod', '--mn', 'ping')).json()).toEqual({ status: 201, payload: 'pong' });
    expect((await iothub('device-twin', 'show', '-d', d.deviceId, '-m', 'mod')).json()).toMatchObject({ moduleId: 'mod' });
    await mod.close();
  });

  it('sends C2D messages, purges a queue, follows feedback and shows the hub C2D settings', async () => {
    const id = uniqueName('clic2d');
    expect((await iothub('device-identity', 'create', '-d', id)).code).toBe(0);
    const cs = (((await iothub('device-identity', 'connection-string', 'show', '-d', id)).json()) as { connectionString: string }).connectionString;
    const device = DeviceClient.fromConnectionString(cs, Mqtt);
    const got: Array<InstanceType<typeof Message>> = [];
    device.on('message', (m: InstanceType<typeof Message>) => got.push(m));
    await device.open();
    const mid = `cli-${Date.now()}`;
    const sent = await iothub('c2d-message', 'send', '-d', id, '--data', 'from the cli', '--props', 'color=red;size=L', '--ack', 'full', '--mid', mid);
    expect(sent.code, sent.err).toBe(0);
    expect(sent.json()).toMatchObject({ messageId: mid });
    const fb = await iothub('monitor-feedback', '-d', id, '-w', mid, '-t', '20');
    expect(fb.code, fb.err).toBe(0);
    expect(fb.json()).toMatchObject({ originalMessageId: mid, description: 'Success', deviceId: id });
    expect(got[0]?.data.toString()).toBe('from the cli');
    expect(got[0]?.properties.getValue('color')).toBe('red');
    await device.close();

    await iothub('c2d-message', 'send', '-d', id);
    expect((await iothub('c2d-message', 'purge', '-d', id)).json()).toEqual({ totalMessagesPurged: 1, deviceId: id, moduleId: null });
    expect((await iothub('hub', 'c2d-settings')).json()).toMatchObject({ maxDeliveryCount: 10, defaultTtlAsIso8601: 'PT1H' });
    const bad = await iothub('hub', 'c2d-settings', '--set', '{"maxDeliveryCount":0}');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/ArgumentInvalid/);
  });
});
