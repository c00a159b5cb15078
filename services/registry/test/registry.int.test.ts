import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { grpc, promiseClient, registryV1 } from '@openiothub/proto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { subjects } from '@openiothub/bus';
import { createRegistryApp, loadRegistryConfig, type RegistryApp } from '../src/index.js';

const urls = testUrls();
const ctx = testContext('registry-int');
let app: RegistryApp;
let raw: registryV1.RegistryServiceClient;
let client: ReturnType<typeof promiseClient<registryV1.RegistryServiceClient>>;
let nc: NatsConnection;
const hub = uniqueName('hub');

beforeAll(async () => {
  const config = loadRegistryConfig({
    DATABASE_URL: urls.databaseUrl,
    NATS_URL: urls.natsUrl,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    MAX_DEVICES_PER_HUB: '40',
  });
  app = await createRegistryApp(config, ctx);
  raw = new registryV1.RegistryServiceClient(`127.0.0.1:${app.grpcPort}`, grpc.credentials.createInsecure());
  client = promiseClient(raw, registryV1.RegistryServiceService);
  nc = await connect({ servers: urls.natsUrl });
  await client.ensureHub({ hub });
});

afterAll(async () => {
  raw?.close();
  await nc?.close();
  await ctx[Symbol.asyncDispose]();
});

const device = (deviceId: string, extra: Partial<registryV1.Device> = {}): registryV1.Device =>
  registryV1.Device.fromPartial({ deviceId, ...extra });

describe('hubs and policies', () => {
  it('fixes the built-in endpoint (partitions 2-128, default 4; retention 1-7 days, default 1) at creation', async () => {
    expect((await client.getHub({ hub })).hub).toMatchObject({ partitionCount: 4, retentionDays: 1 });
    const wide = uniqueName('wide');
    expect((await client.ensureHub({ hub: wide, partitionCount: 32, retentionDays: 7 })).hub).toMatchObject({ partitionCount: 32, retentionDays: 7 });
    // an existing hub keeps what it was created with
    expect((await client.ensureHub({ hub: wide, partitionCount: 8 })).hub).toMatchObject({ partitionCount: 32, retentionDays: 7 });
    for (const bad of [{ partitionCount: 1 }, { partitionCount: 129 }, { retentionDays: 0 }, { retentionDays: 8 }]) {
      await expect(client.ensureHub({ hub: uniqueName('bad'), ...bad })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    }
  });

  it('creates the five default policies once, with distinct keys', async () => {
    const again = await client.ensureHub({ hub });
    expect(again.created).toBe(false);
    const { policies } = await client.listPolicies({ hub });
    expect(policies.map((p) => p.keyName)).toEqual(['device', 'iothubowner', 'registryRead', 'registryReadWrite', 'service']);
    expect(new Set(policies.flatMap((p) => [p.primaryKey, p.secondaryKey])).size).toBe(10);
    expect(policies.find((p) => p.keyName === 'registryReadWrite')?.rights).toEqual(['RegistryRead', 'RegistryWrite']);
  });

  it('regenerates one key and leaves the other', async () => {
    const before = (await client.getPolicy({ hub, keyName: 'service' })).policy!;
    const after = (await client.regeneratePolicyKey({ hub, keyName: 'service', which: 'secondary' })).policy!;
    expect(after.primaryKey).toBe(before.primaryKey);
    expect(after.secondaryKey).not.toBe(before.secondaryKey);
  });

  it('answers IotHubNotFound for an unknown hub', async () => {
    await expect(client.listPolicies({ hub: uniqueName('nohub') })).rejects.toMatchObject({ code: 'IotHubNotFound' });
    await expect(client.putDevice({ hub: uniqueName('nohub'), device: device('d') })).rejects.toMatchObject({ code: 'IotHubNotFound' });
  });
});

describe('devices', () => {
  it('creates with generated keys, then 409 on a second create', async () => {
    const id = uniqueName('dev');
    const { device: d, created } = await client.putDevice({ hub, device: device(id) });
    expect(created).toBe(true);
    expect(d?.status).toBe('enabled');
    expect(d?.generationId).toMatch(/^\d{18}$/);
    expect(d?.authentication?.type).toBe('sas');
    expect(Buffer.from(d!.authentication!.symmetricKey!.primaryKey, 'base64')).toHaveLength(32);
    expect(d?.connectionState).toBe('Disconnected');
    await expect(client.putDevice({ hub, device: device(id) })).rejects.toMatchObject({ code: 'DeviceAlreadyExists' });
  });

  it('updates with the current etag, 412 with a stale one, 404 for a missing device', async () => {
    const id = uniqueName('dev');
    const created = (await client.putDevice({ hub, device: device(id) })).device!;
    const updated = (await client.putDevice({ hub, device: device(id, { status: 'disabled', statusReason: 'stolen' }), ifMatch: `"${created.etag}"` })).device!;
    expect(updated.status).toBe('disabled');
    expect(updated.statusReason).toBe('stolen');
    expect(updated.etag).not.toBe(created.etag);
    expect(updated.statusUpdatedTime!.getTime()).toBeGreaterThanOrEqual(created.statusUpdatedTime!.getTime());
    // keys are kept when the update sends none
    expect(updated.authentication?.symmetricKey?.primaryKey).toBe(created.authentication?.symmetricKey?.primaryKey);
    await expect(client.putDevice({ hub, device: device(id), ifMatch: `"${created.etag}"` })).rejects.toMatchObject({ code: 'PreconditionFailed' });
    await expect(client.deleteDevice({ hub, deviceId: id, ifMatch: `"${created.etag}"` })).rejects.toMatchObject({ code: 'PreconditionFailed' });
    await expect(client.putDevice({ hub, device: device(uniqueName('none')), ifMatch: '*' })).rejects.toMatchObject({ code: 'DeviceNotFound' });
  });

  it('keeps ids case-sensitive and gives a re-created device a new generationId', async () => {
    const id = uniqueName('Case');
    const upper = (await client.putDevice({ hub, device: device(id) })).device!;
    const lower = (await client.putDevice({ hub, device: device(id.toLowerCase()) })).device!;
    expect(lower.generationId).not.toBe(upper.generationId);
    await client.deleteDevice({ hub, deviceId: id });
    await expect(client.getDevice({ hub, deviceId: id })).rejects.toMatchObject({ code: 'DeviceNotFound' });
    const again = (await client.putDevice({ hub, device: device(id) })).device!;
    expect(again.generationId).not.toBe(upper.generationId);
    await client.deleteDevice({ hub, deviceId: id });
    await client.deleteDevice({ hub, deviceId: id.toLowerCase() });
  });

  it('enforces the per-hub device quota and keeps statistics', async () => {
    const small = uniqueName('quota');
    await client.ensureHub({ hub: small });
    const name = (i: number) => `d${String(i).padStart(2, '0')}`;
    for (let i = 0; i < 40; i++) await client.putDevice({ hub: small, device: device(name(i), i < 2 ? { status: 'disabled' } : {}) });
    await expect(client.putDevice({ hub: small, device: device(name(40)) })).rejects.toMatchObject({ code: 'IotHubQuotaExceeded' });
    expect(await client.getStatistics({ hub: small })).toEqual({ totalDeviceCount: 40, enabledDeviceCount: 38, disabledDeviceCount: 2 });
    // a failed create did not consume quota: delete one, create one
    await client.deleteDevice({ hub: small, deviceId: name(0) });
    await client.putDevice({ hub: small, device: device(name(40)) });
    const listed = await client.listDevices({ hub: small, top: 3, afterDeviceId: '' });
    expect(listed.devices.map((d) => d.deviceId)).toEqual(['d01', 'd02', 'd03']);
  });

  it('bulk-creates, reports per-device errors, and deletes', async () => {
    const bulkHub = uniqueName('bulk');
    await client.ensureHub({ hub: bulkHub });
    const op = (id: string, importMode: string, etag = '') => ({ device: device(id), importMode, etag });
    const created = await client.bulkDevices({ hub: bulkHub, operations: [op('a', 'create'), op('b', 'create')] });
    expect(created).toEqual({ isSuccessful: true, errors: [] });
    const mixed = await client.bulkDevices({ hub: bulkHub, operations: [op('a', 'create'), op('c', 'create'), op('b', 'UpdateIfMatchETag', 'bogus')] });
    expect(mixed.isSuccessful).toBe(false);
    expect(mixed.errors.map((e) => [e.deviceId, e.errorCode])).toEqual([
      ['a', 'DeviceAlreadyExists'],
      ['b', 'PreconditionFailed'],
    ]);
    await client.bulkDevices({ hub: bulkHub, operations: [op('a', 'Delete'), op('b', 'delete'), op('c', 'delete')] });
    expect((await client.getStatistics({ hub: bulkHub })).totalDeviceCount).toBe(0);
    await expect(client.bulkDevices({ hub: bulkHub, operations: [] })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await expect(client.bulkDevices({ hub: bulkHub, operations: [op('x', 'explode')] })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
  });
});

describe('modules', () => {
  it('creates up to 20 modules per device and rejects the 21st', async () => {
    const id = uniqueName('dev');
    await client.putDevice({ hub, device: device(id) });
    const mod = (moduleId: string) => registryV1.Module.fromPartial({ deviceId: id, moduleId });
    for (let i = 0; i < 20; i++) await client.putModule({ hub, module: mod(`m${String(i).padStart(2, '0')}`) });
    await expect(client.putModule({ hub, module: mod('m20') })).rejects.toMatchObject({ code: 'TooManyModulesOnDevice' });
    await expect(client.putModule({ hub, module: mod('m00') })).rejects.toMatchObject({ code: 'ModuleAlreadyExistsOnDevice' });
    const { modules } = await client.listModules({ hub, deviceId: id });
    expect(modules).toHaveLength(20);
    const m0 = (await client.getModule({ hub, deviceId: id, moduleId: 'm00' })).module!;
    expect(m0.authentication?.symmetricKey?.primaryKey).toBeTruthy();
    await client.deleteModule({ hub, deviceId: id, moduleId: 'm00', ifMatch: `"${m0.etag}"` });
    await expect(client.getModule({ hub, deviceId: id, moduleId: 'm00' })).rejects.toMatchObject({ code: 'ModuleNotFound' });
    await expect(client.putModule({ hub, module: registryV1.Module.fromPartial({ deviceId: uniqueName('nodev'), moduleId: 'm' }) })).rejects.toMatchObject({ code: 'DeviceNotFound' });
    // deleting the device removes its modules
    await client.deleteDevice({ hub, deviceId: id });
    await client.putDevice({ hub, device: device(id) });
    expect((await client.listModules({ hub, deviceId: id })).modules).toHaveLength(0);
  });

  it('looks up credentials for devices and modules, with the device status', async () => {
    const id = uniqueName('dev');
    const d = (await client.putDevice({ hub, device: device(id, { status: 'disabled' }) })).device!;
    const m = (await client.putModule({ hub, module: registryV1.Module.fromPartial({ deviceId: id, moduleId: 'mod' }) })).module!;
    const dc = await client.lookupCredentials({ hub, deviceId: id, moduleId: '' });
    expect(dc).toMatchObject({ found: true, status: 'disabled', generationId: d.generationId });
    expect(dc.authentication?.symmetricKey?.primaryKey).toBe(d.authentication?.symmetricKey?.primaryKey);
    const mc = await client.lookupCredentials({ hub, deviceId: id, moduleId: 'mod' });
    expect(mc).toMatchObject({ found: true, status: 'disabled', generationId: m.generationId });
    expect((await client.lookupCredentials({ hub, deviceId: id, moduleId: 'nope' })).found).toBe(false);
  });
});

describe('lifecycle events', () => {
  it('publishes create and delete notifications to JetStream, exactly once each', async () => {
    const id = uniqueName('evt');
    const jsm = await jetstreamManager(nc);
    const consumer = await jsm.consumers.add('EVENTS', {
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: subjects.lifecycle(hub, id),
      inactive_threshold: 60_000_000_000,
    });
    await client.putDevice({ hub, device: device(id) });
    await client.deleteDevice({ hub, deviceId: id });
    await app.relay.flush();
    const c = await jetstream(nc).consumers.get('EVENTS', consumer.name);
    const got: Array<{ op: string | undefined; body: { deviceId: string } }> = [];
    const batch = await c.fetch({ max_messages: 10, expires: 2000 });
    for await (const m of batch) {
      got.push({ op: m.headers?.get('opType'), body: m.json() });
      m.ack();
      if (got.length === 2) break;
    }
    expect(got.map((g) => g.op)).toEqual(['createDeviceIdentity', 'deleteDeviceIdentity']);
    expect(got[0]?.body.deviceId).toBe(id);
    await jsm.consumers.delete('EVENTS', consumer.name);
  });
});

describe('connection state', () => {
  const report = (deviceId: string, connected: boolean, connectionId: string, at: Date, moduleId = '') =>
    client.reportConnection({ hub, deviceId, moduleId, connected, connectionId, at });

  it('tracks connects and disconnects, ignoring a late disconnect of an older connection', async () => {
    const id = uniqueName('conn');
    await client.putDevice({ hub, device: device(id) });
    const t0 = new Date(Date.now() - 10_000);
    expect((await report(id, true, 'c1', t0)).applied).toBe(true);
    expect((await client.getDevice({ hub, deviceId: id })).device).toMatchObject({ connectionState: 'Connected', connectionStateUpdatedTime: t0, lastActivityTime: t0 });
    // a newer connection (another gateway), then the old one's disconnect arrives late
    const t1 = new Date(t0.getTime() + 1000);
    expect((await report(id, true, 'c2', t1)).applied).toBe(true);
    expect((await report(id, false, 'c1', new Date(t1.getTime() + 10))).applied).toBe(false);
    expect((await client.getDevice({ hub, deviceId: id })).device?.connectionState).toBe('Connected');
    // a connect report older than the recorded one is ignored too
    expect((await report(id, true, 'c0', new Date(t0.getTime() - 5000))).applied).toBe(false);
    expect((await report(id, false, 'c2', new Date(t1.getTime() + 20))).applied).toBe(true);
    expect((await client.getDevice({ hub, deviceId: id })).device?.connectionState).toBe('Disconnected');
    expect((await report(uniqueName('ghost'), true, 'c', t0)).applied).toBe(false);
  });

  it('tracks modules separately and records activity without going backwards', async () => {
    const id = uniqueName('conn');
    await client.putDevice({ hub, device: device(id) });
    await client.putModule({ hub, module: registryV1.Module.fromPartial({ deviceId: id, moduleId: 'm' }) });
    const t = new Date(Date.now() - 60_000);
    await report(id, true, 'mc', t, 'm');
    expect((await client.getModule({ hub, deviceId: id, moduleId: 'm' })).module?.connectionState).toBe('Connected');
    expect((await client.getDevice({ hub, deviceId: id })).device?.connectionState).toBe('Disconnected');
    const later = new Date(t.getTime() + 30_000);
    await client.recordActivity({ hub, entries: [{ deviceId: id, moduleId: '', at: later }, { deviceId: id, moduleId: 'm', at: later }] });
    await client.recordActivity({ hub, entries: [{ deviceId: id, moduleId: '', at: t }] });
    expect((await client.getDevice({ hub, deviceId: id })).device?.lastActivityTime).toEqual(later);
    expect((await client.getModule({ hub, deviceId: id, moduleId: 'm' })).module?.lastActivityTime).toEqual(later);
  });

  it('publishes deviceConnected and deviceDisconnected events', async () => {
    const id = uniqueName('cevt');
    await client.putDevice({ hub, device: device(id) });
    const jsm = await jetstreamManager(nc);
    const consumer = await jsm.consumers.add('EVENTS', {
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: subjects.connection(hub, id),
      inactive_threshold: 60_000_000_000,
    });
    const at = new Date();
    await report(id, true, 'e1', at);
    await report(id, false, 'e1', new Date(at.getTime() + 1));
    await report(id, false, 'e1', new Date(at.getTime() + 2)); // not applied: no event
    await app.relay.flush();
    const c = await jetstream(nc).consumers.get('EVENTS', consumer.name);
    const got: Array<string | undefined> = [];
    for await (const m of await c.fetch({ max_messages: 3, expires: 1500 })) {
      got.push(m.headers?.get('opType'));
      expect(m.json<{ deviceId: string }>().deviceId).toBe(id);
      m.ack();
    }
    expect(got).toEqual(['deviceConnected', 'deviceDisconnected']);
    await jsm.consumers.delete('EVENTS', consumer.name);
  });

  it('ends the recorded connections of a deleted device and its modules with deviceDisconnected, before the delete notification', async () => {
    const id = uniqueName('cdel');
    await client.putDevice({ hub, device: device(id) });
    await client.putModule({ hub, module: registryV1.Module.fromPartial({ deviceId: id, moduleId: 'm' }) });
    // the create events are out before the consumer starts at "new" (the relay may still hold them)
    await app.relay.flush();
    const jsm = await jetstreamManager(nc);
    const consumer = await jsm.consumers.add('EVENTS', { ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: `${subjects.lifecycle(hub, id).split('.').slice(0, 2).join('.')}.>`, inactive_threshold: 60_000_000_000 });
    await report(id, true, 'd1', new Date());
    await report(id, true, 'm1', new Date(), 'm');
    await client.deleteDevice({ hub, deviceId: id });
    // the gateway's disconnect report arrives after the delete: nothing left to apply it to
    expect((await report(id, false, 'd1', new Date())).applied).toBe(false);
    await app.relay.flush();
    const c = await jetstream(nc).consumers.get('EVENTS', consumer.name);
    const got: string[] = [];
    for await (const m of await c.fetch({ max_messages: 50, expires: 1500 })) {
      // every event of the hub: keep this device's
      if (m.json<{ deviceId: string }>().deviceId === id) got.push(`${m.headers?.get('opType')}${m.headers?.get('moduleId') ? `:${m.headers.get('moduleId')}` : ''}`);
      m.ack();
      if (got.length === 5) break;
    }
    expect(got).toEqual(['deviceConnected', 'deviceConnected:m', 'deviceDisconnected', 'deviceDisconnected:m', 'deleteDeviceIdentity']);
    await jsm.consumers.delete('EVENTS', consumer.name);
  });
});

describe('identity change notices (gateways drop cached credentials)', () => {
  it('announces a created, an updated and a deleted device on reg.{hub}.changed.{deviceId}', async () => {
    const id = uniqueName('notice');
    const sub = nc.subscribe(subjects.identityChanged(hub, id));
    const seen: string[] = [];
    const done = (async () => {
      for await (const m of sub) {
        seen.push(m.subject);
        if (seen.length === 3) break;
      }
    })();
    await nc.flush();
    const created = (await client.putDevice({ hub, device: device(id) })).device!;
    await client.putDevice({ hub, device: { ...created, status: 'disabled' }, ifMatch: '*' });
    await client.deleteDevice({ hub, deviceId: id });
    await done;
    expect(seen).toEqual(Array(3).fill(subjects.identityChanged(hub, id)));
  });
});

describe('CA certificates (protocols-ops §3.2, checklist 91-95)', () => {
  it('upload → Unverified; verification code; proof of possession with CN = code → Verified, and only then a trust anchor', async () => {
    const { createDevCa, issueCertificate } = await import('@openiothub/auth');
    const ca = await createDevCa('Fleet Root');
    const other = await createDevCa('Someone else');
    const name = 'fleet-root';
    const json = (r: { json: string }) => JSON.parse(r.json) as { etag: string; properties: { isVerified: boolean; verificationCode?: string; subject: string; thumbprint: string } };

    await expect(client.putCertificate({ hub, name, certificate: `${ca.cert}${ca.key}`, isVerified: false })).rejects.toMatchObject({ code: 'ArgumentInvalid', message: expect.stringMatching(/private key/) });
    const leaf = await issueCertificate(ca, { commonName: 'not-a-ca', usage: 'client' });
    await expect(client.putCertificate({ hub, name, certificate: leaf.cert, isVerified: false })).rejects.toMatchObject({ code: 'ArgumentInvalid', message: expect.stringMatching(/not a CA/) });

    const uploaded = json(await client.putCertificate({ hub, name, certificate: ca.cert, isVerified: false }));
    expect(uploaded.properties).toMatchObject({ isVerified: false, subject: 'Fleet Root', thumbprint: expect.stringMatching(/^[0-9A-F]{40}$/) });
    expect((await client.verifiedCertificates({ hub })).pems).toEqual([]);
    await expect(client.verifyCertificate({ hub, name, certificate: leaf.cert })).rejects.toMatchObject({ code: 'InvalidOperation' });

    const withCode = json(await client.generateVerificationCode({ hub, name, ifMatch: uploaded.etag }));
    const code = withCode.properties.verificationCode!;
    expect(code).toMatch(/^[0-9A-F]{48}$/);
    expect(withCode.properties.isVerified).toBe(false);
    await expect(client.generateVerificationCode({ hub, name, ifMatch: uploaded.etag })).rejects.toMatchObject({ code: 'PreconditionFailed' });

    const wrongCn = await issueCertificate(ca, { commonName: 'not-the-code', usage: 'client' });
    const wrongCa = await issueCertificate(other, { commonName: code, usage: 'client' });
    await expect(client.verifyCertificate({ hub, name, certificate: wrongCn.cert })).rejects.toMatchObject({ message: expect.stringMatching(/verification code/) });
    await expect(client.verifyCertificate({ hub, name, certificate: wrongCa.cert })).rejects.toMatchObject({ message: expect.stringMatching(/not signed by this CA/) });
    expect(json(await client.getCertificate({ hub, name })).properties.isVerified).toBe(false);

    const proof = await issueCertificate(ca, { commonName: code, usage: 'client' });
    expect(json(await client.verifyCertificate({ hub, name, certificate: proof.cert })).properties.isVerified).toBe(true);
    expect((await client.verifiedCertificates({ hub })).pems).toHaveLength(1);
    expect((JSON.parse((await client.listCertificates({ hub })).json) as { value: unknown[] }).value).toHaveLength(1);
    // the code was single-use
    await expect(client.verifyCertificate({ hub, name, certificate: proof.cert })).rejects.toMatchObject({ code: 'InvalidOperation' });
    await client.deleteCertificate({ hub, name });
    expect((await client.verifiedCertificates({ hub })).pems).toEqual([]);
  });
});

describe('hub settings the gateway enforces', () => {
  it('SKU: unlimited by default; S1-S3, B1-B3, F1 with units; announced on reg.{hub}.settings', async () => {
    const h = uniqueName('sku');
    expect((await client.ensureHub({ hub: h })).hub).toMatchObject({ skuName: 'unlimited', skuUnits: 1 });
    const sub = nc.subscribe(subjects.hubSettingsChanged(h), { max: 1 });
    await nc.flush();
    expect((await client.putSku({ hub: h, skuName: 's2', skuUnits: 3 })).hub).toMatchObject({ skuName: 'S2', skuUnits: 3 });
    for await (const m of sub) expect(m.subject).toBe(subjects.hubSettingsChanged(h));
    await expect(client.putSku({ hub: h, skuName: 'S9', skuUnits: 1 })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await expect(client.putSku({ hub: h, skuName: 'F1', skuUnits: 2 })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await expect(client.putSku({ hub: uniqueName('none'), skuName: 'S1', skuUnits: 1 })).rejects.toMatchObject({ code: 'IotHubNotFound' });
    expect((await client.getHub({ hub: h })).hub).toMatchObject({ skuName: 'S2', skuUnits: 3 });
  });

  it('IP filter rules: validated, versioned for If-Match, announced', async () => {
    const h = uniqueName('ipf');
    await client.ensureHub({ hub: h });
    const empty = await client.getIpFilter({ hub: h });
    expect(JSON.parse(empty.rulesJson)).toEqual([]);
    const set = await client.putIpFilter({ hub: h, rulesJson: JSON.stringify([{ filterName: 'lab', action: 'Allow', ipMask: '10.0.0.0/8' }]), ifMatch: empty.etag });
    expect(JSON.parse(set.rulesJson)).toEqual([{ filterName: 'lab', action: 'Accept', ipMask: '10.0.0.0/8' }]);
    await expect(client.putIpFilter({ hub: h, rulesJson: '[]', ifMatch: empty.etag })).rejects.toMatchObject({ code: 'PreconditionFailed' });
    await expect(client.putIpFilter({ hub: h, rulesJson: '[{"filterName":"x","action":"Accept","ipMask":"1.2.3.4/40"}]' })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
  });
});
