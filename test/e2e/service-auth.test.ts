import { describe, expect, it } from 'vitest';
import { Registry } from 'azure-iothub';
import { createSasToken, parseServiceConnectionString } from '@openiothub/auth';
import { uniqueName } from '@openiothub/testing';
import { hub, hubFetch, ownerConnectionString, ownerToken, policyConnectionString } from './helpers.js';

/** The body every IoT Hub HTTP error carries, as the SDKs parse it. */
async function expectIotHubError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  const body = (await res.json()) as { Message: string };
  expect(body.Message).toMatch(new RegExp(`^ErrorCode:${code};.+`));
}

describe('service API authorization (SDK)', () => {
  it('rejects a connection string with the wrong key', async () => {
    const cs = parseServiceConnectionString(ownerConnectionString());
    const wrong = `HostName=${cs.hostName};SharedAccessKeyName=${cs.sharedAccessKeyName};SharedAccessKey=${Buffer.alloc(32, 9).toString('base64')}`;
    await expect(Registry.fromConnectionString(wrong).list()).rejects.toMatchObject({ name: 'UnauthorizedError' });
  });

  it('rejects an expired token', async () => {
    const expired = ownerToken({ ttlSeconds: -10 });
    await expect(Registry.fromSharedAccessSignature(expired).list()).rejects.toMatchObject({ name: 'UnauthorizedError' });
    // and the same token, unexpired, works: the failure above is the expiry, nothing else
    await expect(Registry.fromSharedAccessSignature(ownerToken()).list()).resolves.toBeDefined();
  });

  it('lets registryRead read but not write; registryReadWrite writes; service cannot touch the registry', async () => {
    const read = Registry.fromConnectionString(await policyConnectionString('registryRead'));
    const readWrite = Registry.fromConnectionString(await policyConnectionString('registryReadWrite'));
    const service = Registry.fromConnectionString(await policyConnectionString('service'));
    const id = uniqueName('perm');
    await expect(read.create({ deviceId: id })).rejects.toMatchObject({ name: 'UnauthorizedError' });
    await readWrite.create({ deviceId: id });
    expect((await read.get(id)).responseBody.deviceId).toBe(id);
    await expect(read.delete(id)).rejects.toMatchObject({ name: 'UnauthorizedError' });
    await expect(service.get(id)).rejects.toMatchObject({ name: 'UnauthorizedError' });
    await readWrite.delete(id);
  });

  it('accepts the secondary key of a policy', async () => {
    const r = await policyConnectionString('iothubowner');
    const secondary = r.replace(/SharedAccessKey=.*$/, `SharedAccessKey=${await secondaryOwnerKey()}`);
    await expect(Registry.fromConnectionString(secondary).getRegistryStatistics()).resolves.toBeDefined();
  });
});

async function secondaryOwnerKey(): Promise<string> {
  const { iothub } = await import('./helpers.js');
  const r = await iothub('policy', 'show', '-n', 'iothubowner');
  return (r.json() as { secondaryKey: string }).secondaryKey;
}

describe('service API authorization (raw HTTPS)', () => {
  it('rejects a missing Authorization header and a malformed token with 401', async () => {
    await expectIotHubError(await hubFetch('/devices', { token: null }), 401, 'IotHubUnauthorizedAccess');
    await expectIotHubError(await hubFetch('/devices', { token: 'Bearer abc' }), 401, 'IotHubUnauthorizedAccess');
    await expectIotHubError(await hubFetch('/devices', { token: 'SharedAccessSignature sr=x&se=1' }), 401, 'IotHubUnauthorizedAccess');
  });

  it('rejects a device token on the service API', async () => {
    const id = uniqueName('devtok');
    const created = (await (await hubFetch(`/devices/${id}`, { method: 'PUT', body: JSON.stringify({ deviceId: id }) })).json()) as {
      authentication: { symmetricKey: { primaryKey: string } };
    };
    const deviceToken = createSasToken({
      resourceUri: `${hub().hostName}/devices/${id}`,
      key: created.authentication.symmetricKey.primaryKey,
      expiry: Math.floor(Date.now() / 1000) + 600,
    });
    await expectIotHubError(await hubFetch(`/devices/${id}`, { token: deviceToken }), 401, 'IotHubUnauthorizedAccess');
  });

  it('rejects an unknown policy name, a token for another host, and a token scoped elsewhere', async () => {
    const cs = parseServiceConnectionString(ownerConnectionString());
    await expectIotHubError(await hubFetch('/devices', { token: ownerToken({ keyName: 'nosuchpolicy' }) }), 401, 'IotHubUnauthorizedAccess');
    await expectIotHubError(await hubFetch('/devices', { token: ownerToken({ resource: 'otherhub.example.net' }) }), 401, 'IotHubUnauthorizedAccess');
    // scope is a segment prefix: a token for {host}/devices/a covers neither /devices nor /devices/ab
    const scoped = ownerToken({ resource: `${cs.hostName}/devices/a` });
    await expectIotHubError(await hubFetch('/devices/ab', { token: scoped }), 401, 'IotHubUnauthorizedAccess');
    await expectIotHubError(await hubFetch('/devices', { token: scoped }), 401, 'IotHubUnauthorizedAccess');
    // …but covers /devices/a itself (404: it does not exist)
    await expectIotHubError(await hubFetch('/devices/a', { token: scoped }), 404, 'DeviceNotFound');
  });
});
