import { describe, expect, it } from 'vitest';
import { Registry } from 'azure-iothub';
import { uniqueName } from '@openiothub/testing';
import { ownerConnectionString } from './helpers.js';

// The real service SDK against the hub: every call below goes over HTTPS on 443 with a policy SAS.
const registry = () => Registry.fromConnectionString(ownerConnectionString());

describe('azure-iothub Registry: devices', () => {
  it('creates a device without keys (the hub generates them) and with given keys', async () => {
    const r = registry();
    const generatedId = uniqueName('sdk');
    const { responseBody: generated } = await r.create({ deviceId: generatedId });
    expect(generated.deviceId).toBe(generatedId);
    expect(generated.status).toBe('enabled');
    expect(generated.generationId).toMatch(/^\d+$/);
    expect(generated.etag).toBeTruthy();
    expect(generated.connectionState).toBe('Disconnected');
    expect(Buffer.from(generated.authentication!.symmetricKey!.primaryKey!, 'base64')).toHaveLength(32);

    const primaryKey = Buffer.alloc(32, 3).toString('base64');
    const secondaryKey = Buffer.alloc(32, 4).toString('base64');
    const keyedId = uniqueName('sdk');
    const { responseBody: keyed } = await r.create({ deviceId: keyedId, authentication: { symmetricKey: { primaryKey, secondaryKey } } });
    expect(keyed.authentication?.symmetricKey).toEqual({ primaryKey, secondaryKey });

    const { responseBody: got } = await r.get(keyedId);
    expect(got.deviceId).toBe(keyedId);
    expect(got.etag).toBe(keyed.etag);

    await expect(r.create({ deviceId: keyedId })).rejects.toMatchObject({ name: 'DeviceAlreadyExistsError' });
  });

  it('updates a device, rejects a stale etag with 412, deletes it', async () => {
    const r = registry();
    const id = uniqueName('sdk');
    const { responseBody: created } = await r.create({ deviceId: id });
    const { responseBody: updated } = await r.update({ deviceId: id, status: 'disabled', statusReason: 'maintenance' });
    expect(updated.status).toBe('disabled');
    expect(updated.statusReason).toBe('maintenance');
    expect(updated.etag).not.toBe(created.etag);
    // Registry.update always sends If-Match "*"; the etag check is exercised by the bulk API:
    const stale = await r.updateDevices([{ ...created, status: 'enabled' }], false);
    expect(stale.responseBody.isSuccessful).toBe(false);
    expect(stale.responseBody.errors).toEqual([expect.objectContaining({ deviceId: id, errorCode: 'PreconditionFailed' })]);
    const current = await r.updateDevices([{ ...updated, status: 'enabled' }], false);
    expect(current.responseBody.isSuccessful).toBe(true);
    expect((await r.get(id)).responseBody.status).toBe('enabled');

    await r.delete(id);
    await expect(r.get(id)).rejects.toMatchObject({ name: 'DeviceNotFoundError' });
    await expect(r.delete(id)).rejects.toMatchObject({ name: 'DeviceNotFoundError' });
  });

  it('lists devices', async () => {
    const r = registry();
    const ids = [uniqueName('list'), uniqueName('list')];
    for (const deviceId of ids) await r.create({ deviceId });
    const { responseBody: all } = await r.list();
    expect(Array.isArray(all)).toBe(true);
    expect(all.map((d) => d.deviceId)).toEqual(expect.arrayContaining(ids));
  });

  it('adds, updates and removes devices in bulk', async () => {
    const r = registry();
    const ids = [uniqueName('bulk'), uniqueName('bulk'), uniqueName('bulk')];
    const added = await r.addDevices(ids.map((deviceId) => ({ deviceId, status: 'enabled' as const })));
    expect(added.responseBody).toMatchObject({ isSuccessful: true, errors: [] });
    const again = await r.addDevices([{ deviceId: ids[0]!, status: 'enabled' }]);
    expect(again.responseBody.errors).toEqual([expect.objectContaining({ deviceId: ids[0], errorCode: 'DeviceAlreadyExists' })]);
    const updated = await r.updateDevices(ids.map((deviceId) => ({ deviceId, status: 'disabled' as const })), true);
    expect(updated.responseBody.isSuccessful).toBe(true);
    expect((await r.get(ids[1]!)).responseBody.status).toBe('disabled');
    const removed = await r.removeDevices(ids.map((deviceId) => ({ deviceId })), true);
    expect(removed.responseBody.isSuccessful).toBe(true);
    for (const id of ids) await expect(r.get(id)).rejects.toMatchObject({ name: 'DeviceNotFoundError' });
  });

  it('reports registry statistics', async () => {
    const r = registry();
    const before = (await r.getRegistryStatistics()).responseBody;
    await r.create({ deviceId: uniqueName('stat'), status: 'disabled' });
    await r.create({ deviceId: uniqueName('stat') });
    const after = (await r.getRegistryStatistics()).responseBody;
    expect(after.totalDeviceCount).toBe(before.totalDeviceCount! + 2);
    expect(after.enabledDeviceCount).toBe(before.enabledDeviceCount! + 1);
    expect(after.disabledDeviceCount).toBe(before.disabledDeviceCount! + 1);
  });
});

describe('azure-iothub Registry: modules', () => {
  it('adds, gets, lists, updates with etag and removes modules', async () => {
    const r = registry();
    const deviceId = uniqueName('mod');
    await r.create({ deviceId });
    const { responseBody: m1 } = await r.addModule({ deviceId, moduleId: 'temperature' });
    expect(m1).toMatchObject({ deviceId, moduleId: 'temperature' });
    expect(m1.authentication?.symmetricKey?.primaryKey).toBeTruthy();
    await r.addModule({ deviceId, moduleId: 'humidity' });

    const { responseBody: got } = await r.getModule(deviceId, 'temperature');
    expect(got.etag).toBe(m1.etag);
    const { responseBody: list } = await r.getModulesOnDevice(deviceId);
    expect(list.map((m) => m.moduleId).sort()).toEqual(['humidity', 'temperature']);

    const { responseBody: m1b } = await r.updateModule({ ...m1, managedBy: 'ops' }, false);
    expect(m1b.managedBy).toBe('ops');
    // the old etag is stale now: the SDK sends it in If-Match and gets 412
    await expect(r.updateModule({ ...m1, managedBy: 'x' }, false)).rejects.toMatchObject({ name: 'InvalidEtagError' });
    // SDK quirk: removeModule(moduleObject) only works in callback form (its promise form throws "done cannot be falsy")
    const removeByObject = (m: typeof m1) => new Promise<void>((res, rej) => r.removeModule(m, (err?: Error) => (err ? rej(err) : res())));
    await expect(removeByObject(m1)).rejects.toMatchObject({ name: 'InvalidEtagError' });
    await removeByObject(m1b);
    await r.removeModule(deviceId, 'humidity');
    expect((await r.getModulesOnDevice(deviceId)).responseBody).toEqual([]);
    await expect(r.getModule(deviceId, 'temperature')).rejects.toMatchObject({ name: 'Error' });
  });
});
