import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSasToken, deriveDeviceKey, generateSymmetricKey } from '@openiothub/auth';
import { connectClient, provisioningV1, registryV1, twinV1 } from '@openiothub/proto';
import { createRegistryApp, loadRegistryConfig } from '@openiothub/registry';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { createTwinApp, loadTwinConfig } from '@openiothub/twin';
import { createProvisioningApp, loadProvisioningConfig, type ProvisioningApp } from '../src/index.js';

// The provisioning service against Postgres and the real registry and twin services: what a
// registration leaves in the hubs, concurrency, allocation, failover expiry, paging and errors.

const urls = testUrls();
const ctx = testContext('provisioning-int');
let app: ProvisioningApp;
let dps: ReturnType<typeof connectClient<provisioningV1.ProvisioningServiceClient>>;
let registry: ReturnType<typeof connectClient<registryV1.RegistryServiceClient>>;
let twin: ReturnType<typeof connectClient<twinV1.TwinServiceClient>>;

beforeAll(async () => {
  const reg = await createRegistryApp(loadRegistryConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', DEFAULT_HUB: uniqueName('dpsdefault') }), ctx);
  const t = await createTwinApp(loadTwinConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', REGISTRY_GRPC_URL: `127.0.0.1:${reg.grpcPort}` }), ctx);
  app = await createProvisioningApp(
    loadProvisioningConfig({
      DATABASE_URL: urls.databaseUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      REGISTRY_GRPC_URL: `127.0.0.1:${reg.grpcPort}`,
      TWIN_GRPC_URL: `127.0.0.1:${t.grpcPort}`,
      DPS_WEBHOOK_TIMEOUT_MS: '500',
      DPS_FAILOVER_SWEEP_MS: '200',
    }),
    ctx,
  );
  dps = connectClient(provisioningV1.ProvisioningServiceClient, provisioningV1.ProvisioningServiceService, `127.0.0.1:${app.grpcPort}`);
  registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, `127.0.0.1:${reg.grpcPort}`);
  twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, `127.0.0.1:${t.grpcPort}`);
});

afterAll(async () => {
  dps?.close();
  registry?.close();
  twin?.close();
  await ctx[Symbol.asyncDispose]();
});

/** An instance linking two fresh hubs. */
async function instance(allocationPolicy = 'hashed') {
  const hubs = [uniqueName('hub-a'), uniqueName('hub-b')];
  for (const hub of hubs) await registry.ensureHub({ hub });
  const { instance: inst } = await dps.ensureInstance({
    name: uniqueName('dps'),
    idScope: '',
    allocationPolicy,
    linkedHubs: hubs.map((hub) => ({ hub, hostName: `${hub}.example`, allocationWeight: 1, applyAllocationPolicy: true })),
  });
  return { inst: inst!, hubs };
}

async function group(inst: provisioningV1.Instance, extra: Record<string, unknown> = {}) {
  const id = uniqueName('grp');
  const key = generateSymmetricKey();
  await dps.putEnrollmentGroup({ instance: inst.name, id, json: JSON.stringify({ attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: key } }, ...extra }) });
  return { id, key };
}

const tokenFor = (inst: provisioningV1.Instance, registrationId: string, groupKey: string) =>
  createSasToken({ resourceUri: `${inst.idScope}/registrations/${registrationId}`, key: deriveDeviceKey(groupKey, registrationId), keyName: 'registration', expiry: Math.floor(Date.now() / 1000) + 600, encode: false });

async function register(inst: provisioningV1.Instance, registrationId: string, groupKey: string, payload?: unknown) {
  const op = await dps.register({ idScope: inst.idScope, registrationId, sasToken: tokenFor(inst, registrationId, groupKey), payloadJson: payload === undefined ? '' : JSON.stringify(payload), forceRegistration: false, clientCertChain: [] });
  return JSON.parse(op.json) as { operationId: string; status: string; registrationState: Record<string, unknown> };
}

describe('registration', () => {
  it('creates a new instance with an ID scope and the provisioningserviceowner policy, and keeps them on ensure', async () => {
    const { inst } = await instance();
    expect(inst.idScope).toMatch(/^0ne[0-9A-F]{8}$/);
    expect(inst.policies.map((p) => p.keyName)).toContain('provisioningserviceowner');
    const again = (await dps.ensureInstance({ name: inst.name, idScope: '', allocationPolicy: '', linkedHubs: [] })).instance!;
    expect(again.idScope).toBe(inst.idScope);
    expect(again.linkedHubs).toHaveLength(2);
  });

  it('ten concurrent registers of one device serialise: one identity, every operation answered, the last etag wins', async () => {
    const { inst } = await instance();
    const { key } = await group(inst);
    const ops = await Promise.all(Array.from({ length: 10 }, () => register(inst, 'same-device', key)));
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(10);
    expect(ops.every((o) => o.status === 'assigned')).toBe(true);
    expect(new Set(ops.map((o) => o.registrationState['assignedHub'])).size).toBe(1);
    const record = JSON.parse((await dps.getRegistration({ instance: inst.name, id: 'same-device' })).json) as Record<string, unknown>;
    expect(ops.map((o) => o.registrationState['etag'])).toContain(record['etag']);
    for (const op of ops) {
      const polled = JSON.parse((await dps.getOperation({ idScope: inst.idScope, registrationId: 'same-device', operationId: op.operationId })).json) as { status: string };
      expect(polled.status).toBe('assigned');
    }
    // an operation is visible only to its own registration id
    await expect(dps.getOperation({ idScope: inst.idScope, registrationId: 'another', operationId: ops[0]!.operationId })).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('lowest load alternates between two empty hubs', async () => {
    const { inst, hubs } = await instance('lowestLoad');
    const { key } = await group(inst);
    const assigned: string[] = [];
    for (let i = 0; i < 6; i += 1) assigned.push(String((await register(inst, `ll-${i}`, key)).registrationState['assignedHub']));
    expect(assigned.filter((h) => h === `${hubs[0]}.example`)).toHaveLength(3);
    expect(assigned.filter((h) => h === `${hubs[1]}.example`)).toHaveLength(3);
  });

  it('a custom webhook that fails or answers a hub that is not linked fails the registration with the reason', async () => {
    const { inst } = await instance();
    let mode: 'error' | 'stranger' | 'slow' = 'error';
    const server = createServer((_req, res) => {
      if (mode === 'error') res.writeHead(500).end('boom');
      else if (mode === 'stranger') res.writeHead(200, { 'content-type': 'application/json' }).end('{"iotHubHostName":"elsewhere.example"}');
      else setTimeout(() => res.writeHead(200).end('{}'), 2_000);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { key } = await group(inst, { allocationPolicy: 'custom', customAllocationDefinition: { webhookUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` } });
      const expectations = { error: /answered 500/, stranger: /not one of the linked hubs/, slow: /did not answer/ } as const;
      for (const m of ['error', 'stranger', 'slow'] as const) {
        mode = m;
        const op = await register(inst, `hook-${m}`, key);
        expect(op.status).toBe('failed');
        expect(String(op.registrationState['errorMessage'])).toMatch(expectations[m]);
      }
    } finally {
      server.close();
    }
  });

  it('a failover whose TTL ends is reverted by the sweep, twin and all', async () => {
    const { inst } = await instance();
    const { key } = await group(inst);
    const first = await register(inst, 'fo-1', key);
    const home = (await dps.getInstance({ name: inst.name, idScope: '' })).instance!.linkedHubs.find((h) => `${h.hub}.example` === first.registrationState['assignedHub'])!.hub;
    await twin.updateTwin({ key: { hub: home, deviceId: 'fo-1', moduleId: '' }, patchJson: JSON.stringify({ tags: { keep: 1 } }) });
    const answer = JSON.parse((await dps.failover({ instance: inst.name, registrationId: 'fo-1', ttlMinutes: 0.01, targetHub: '' })).json) as { hostName: string };
    expect(answer.hostName).not.toBe(first.registrationState['assignedHub']);
    await expect(registry.getDevice({ hub: home, deviceId: 'fo-1' })).rejects.toMatchObject({ code: 'DeviceNotFound' });
    for (let i = 0; i < 50; i += 1) {
      const rec = JSON.parse((await dps.getRegistration({ instance: inst.name, id: 'fo-1' })).json) as Record<string, unknown>;
      if (rec['assignedHub'] === first.registrationState['assignedHub'] && !rec['failover']) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const rec = JSON.parse((await dps.getRegistration({ instance: inst.name, id: 'fo-1' })).json) as Record<string, unknown>;
    expect(rec).toMatchObject({ assignedHub: first.registrationState['assignedHub'], substatus: 'reprovisionedToInitialAssignment' });
    expect(rec['failover']).toBeUndefined();
    const t = JSON.parse((await twin.getTwin({ key: { hub: home, deviceId: 'fo-1', moduleId: '' } })).twinJson) as { tags: unknown };
    expect(t.tags).toEqual({ keep: 1 });
    await expect(dps.failback({ instance: inst.name, registrationId: 'fo-1' })).rejects.toMatchObject({ code: 'InvalidOperation' });
  });
});

describe('enrollment documents', () => {
  it('pages through enrollments with a continuation, and refuses a stale etag with 412', async () => {
    const { inst } = await instance();
    for (let i = 0; i < 5; i += 1) {
      await dps.putEnrollment({ instance: inst.name, id: `page-${i}`, json: JSON.stringify({ attestation: { type: 'symmetricKey' } }) });
    }
    const first = await dps.queryEnrollments({ instance: inst.name, id: '', pageSize: 3, continuation: '' });
    const second = await dps.queryEnrollments({ instance: inst.name, id: '', pageSize: 3, continuation: first.continuation });
    expect((JSON.parse(first.json) as Array<{ registrationId: string }>).map((e) => e.registrationId)).toEqual(['page-0', 'page-1', 'page-2']);
    expect((JSON.parse(second.json) as Array<{ registrationId: string }>).map((e) => e.registrationId)).toEqual(['page-3', 'page-4']);
    expect(second.continuation).toBe('');
    const doc = JSON.parse((await dps.getEnrollment({ instance: inst.name, id: 'page-0' })).json) as { etag: string; createdDateTimeUtc: string };
    const updated = JSON.parse((await dps.putEnrollment({ instance: inst.name, id: 'page-0', json: JSON.stringify({ attestation: { type: 'symmetricKey' } }), ifMatch: doc.etag })).json) as { etag: string; createdDateTimeUtc: string };
    expect(updated.etag).not.toBe(doc.etag);
    expect(updated.createdDateTimeUtc).toBe(doc.createdDateTimeUtc);
    await expect(dps.putEnrollment({ instance: inst.name, id: 'page-0', json: '{"attestation":{"type":"symmetricKey"}}', ifMatch: doc.etag })).rejects.toMatchObject({ code: 'PreconditionFailed' });
    await expect(dps.deleteEnrollment({ instance: inst.name, id: 'page-0', ifMatch: doc.etag })).rejects.toMatchObject({ code: 'PreconditionFailed' });
    await dps.deleteEnrollment({ instance: inst.name, id: 'page-0', ifMatch: updated.etag });
    await expect(dps.getEnrollment({ instance: inst.name, id: 'page-0' })).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('refuses an enrollment naming a hub the instance does not link', async () => {
    const { inst } = await instance();
    await expect(dps.putEnrollment({ instance: inst.name, id: 'x', json: JSON.stringify({ attestation: { type: 'symmetricKey' }, allocationPolicy: 'static', iotHubs: ['nowhere.example'] }) })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
  });
});
