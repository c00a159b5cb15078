import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { grpc, promiseClient, registryV1 } from '@openiothub/proto';
import { createRegistryApp, loadRegistryConfig } from '../src/index.js';

// GetIdentities: the twin service's batched identity lookup (one call and one SQL join per batch).

const urls = testUrls();
const ctx = testContext('registry-identities-int');
let raw: registryV1.RegistryServiceClient;
let client: ReturnType<typeof promiseClient<registryV1.RegistryServiceClient>>;
const hub = uniqueName('hub');

beforeAll(async () => {
  const app = await createRegistryApp(loadRegistryConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0' }), ctx);
  raw = new registryV1.RegistryServiceClient(`127.0.0.1:${app.grpcPort}`, grpc.credentials.createInsecure());
  client = promiseClient(raw, registryV1.RegistryServiceService);
  await client.ensureHub({ hub });
});

afterAll(async () => {
  raw?.close();
  await ctx[Symbol.asyncDispose]();
});

const device = (deviceId: string, extra: Partial<registryV1.Device> = {}): registryV1.Device => registryV1.Device.fromPartial({ deviceId, ...extra });

describe('identities in batches', () => {
  it('answers many devices and modules in one GetIdentities call, each item alone and in order', async () => {
    const a = uniqueName('ida');
    const b = uniqueName('idb');
    const otherHub = uniqueName('hub');
    await client.ensureHub({ hub: otherHub });
    await client.putDevice({ hub, device: device(a) });
    await client.putDevice({ hub, device: device(b, { status: 'disabled' }) });
    await client.putModule({ hub, module: registryV1.Module.fromPartial({ deviceId: a, moduleId: 'm1' }) });
    await client.putDevice({ hub: otherHub, device: device(a) }); // the same id in another hub is another device
    const { results } = await client.getIdentities({
      items: [
        { hub, deviceId: b, moduleId: '' },
        { hub, deviceId: a, moduleId: 'm1' },
        { hub, deviceId: uniqueName('none'), moduleId: '' },
        { hub, deviceId: a, moduleId: 'nomodule' },
        { hub: otherHub, deviceId: a, moduleId: '' },
        { hub, deviceId: a, moduleId: '' },
      ],
    });
    expect(results).toHaveLength(6);
    expect(results[0]).toMatchObject({ device: { deviceId: b, status: 'disabled' } });
    expect(results[0]!.module).toBeUndefined();
    expect(results[1]).toMatchObject({ device: { deviceId: a }, module: { deviceId: a, moduleId: 'm1' } });
    expect(results[2]!.error?.code).toBe('DeviceNotFound');
    expect(results[3]!.error?.code).toBe('ModuleNotFound');
    const inOther = (await client.getDevice({ hub: otherHub, deviceId: a })).device!;
    const inHub = (await client.getDevice({ hub, deviceId: a })).device!;
    expect(inOther.generationId).not.toBe(inHub.generationId);
    const keyless = (d: registryV1.Device) => ({ ...d, authentication: { ...d.authentication!, symmetricKey: undefined } });
    expect(inHub.authentication?.symmetricKey?.primaryKey).toBeTruthy();
    expect(results[4]!.device).toEqual(keyless(inOther));
    expect(results[5]!.device).toEqual(keyless(inHub));
    // the twin service needs no credentials: none travel
    for (const r of results) expect([r.device?.authentication?.symmetricKey, r.module?.authentication?.symmetricKey]).toEqual([undefined, undefined]);
  });

});
