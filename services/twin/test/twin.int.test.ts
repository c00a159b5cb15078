import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '@openiothub/bus';
import { grpc, promiseClient, registryV1, twinV1 } from '@openiothub/proto';
import { createRegistryApp, loadRegistryConfig } from '@openiothub/registry';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { createTwinApp, loadTwinConfig, type TwinApp } from '../src/index.js';

const urls = testUrls();
const ctx = testContext('twin-int');
const hub = uniqueName('twinhub');
let twinApp: TwinApp;
let registry: ReturnType<typeof promiseClient<registryV1.RegistryServiceClient>>;
let twin: ReturnType<typeof promiseClient<twinV1.TwinServiceClient>>;
let nc: NatsConnection;
const closers: Array<() => void> = [];

beforeAll(async () => {
  const reg = await createRegistryApp(loadRegistryConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', DEFAULT_HUB: hub }), ctx);
  twinApp = await createTwinApp(loadTwinConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', REGISTRY_GRPC_URL: `127.0.0.1:${reg.grpcPort}` }), ctx);
  const r = new registryV1.RegistryServiceClient(`127.0.0.1:${reg.grpcPort}`, grpc.credentials.createInsecure());
  const t = new twinV1.TwinServiceClient(`127.0.0.1:${twinApp.grpcPort}`, grpc.credentials.createInsecure());
  closers.push(() => r.close(), () => t.close());
  registry = promiseClient(r, registryV1.RegistryServiceService);
  twin = promiseClient(t, twinV1.TwinServiceService);
  nc = await connect({ servers: urls.natsUrl });
});

afterAll(async () => {
  for (const c of closers) c();
  await nc?.close();
  await ctx[Symbol.asyncDispose]();
});

// twin documents are free-form JSON; tests read them loosely
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;
const key = (deviceId: string, moduleId = '') => ({ hub, deviceId, moduleId });
const twinOf = async (deviceId: string) => JSON.parse((await twin.getTwin({ key: key(deviceId) })).twinJson) as Loose;

describe('twin service against Postgres and the registry', () => {
  it('gives a re-created device (new generation) a fresh twin', async () => {
    const id = uniqueName('gen');
    const d1 = (await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: id }) })).device!;
    await twin.updateTwin({ key: key(id), patchJson: JSON.stringify({ tags: { old: true } }) });
    await twin.patchReported({ device: { key: key(id), generationId: d1.generationId, modelId: '' }, patchJson: '{"r":1}' });
    expect((await twinOf(id)).tags).toEqual({ old: true });
    await registry.deleteDevice({ hub, deviceId: id });
    await expect(twin.getTwin({ key: key(id) })).rejects.toMatchObject({ code: 'DeviceNotFound' });
    await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: id }) });
    const fresh = await twinOf(id);
    expect(fresh.tags).toEqual({});
    expect(fresh.properties.reported).toMatchObject({ $version: 1 });
    expect(fresh.properties.reported.r).toBeUndefined();
  });

  it('keeps versions strictly increasing under concurrent writes', async () => {
    const id = uniqueName('conc');
    const d = (await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: id }) })).device!;
    const device = { key: key(id), generationId: d.generationId, modelId: '' };
    const versions = await Promise.all(Array.from({ length: 20 }, (_, i) => twin.patchReported({ device, patchJson: JSON.stringify({ [`k${i}`]: i }) })));
    expect(versions.map((v) => v.reportedVersion).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    await Promise.all(Array.from({ length: 10 }, (_, i) => twin.updateTwin({ key: key(id), patchJson: JSON.stringify({ properties: { desired: { [`d${i}`]: i } } }) })));
    const t = await twinOf(id);
    expect(t.properties.desired.$version).toBe(11);
    expect(t.version).toBe(31);
    expect(Object.keys(t.properties.reported).filter((k) => k.startsWith('k'))).toHaveLength(20);
  });

  it('fails a bad write alone when writes are batched together', async () => {
    const id = uniqueName('batch');
    const d = (await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: id }) })).device!;
    const device = { key: key(id), generationId: d.generationId, modelId: '' };
    const results = await Promise.allSettled([
      twin.patchReported({ device, patchJson: '{"a":1}' }),
      twin.patchReported({ device, patchJson: '{"bad.key":1}' }),
      twin.patchReported({ device, patchJson: '{"b":2}' }),
      twin.patchReported({ device, patchJson: 'not json' }),
      twin.patchReported({ device, patchJson: '{"c":3}' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['ArgumentInvalid', 'ArgumentInvalid']);
    const t = await twinOf(id);
    expect(t.properties.reported).toMatchObject({ a: 1, b: 2, c: 3, $version: 4 });
    expect(t.properties.reported['bad.key']).toBeUndefined();
  });

  it('answers a batch of reported patches item by item, in order, across devices', async () => {
    const ids = [uniqueName('pb'), uniqueName('pb')];
    const devices = [];
    for (const id of ids) {
      const d = (await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: id }) })).device!;
      devices.push({ key: key(id), generationId: d.generationId, modelId: '' });
    }
    const r = await twin.patchReportedBatch({
      items: [
        { device: devices[0], patchJson: '{"a":1}' },
        { device: devices[1], patchJson: '{"x":1}' },
        { device: devices[0], patchJson: '{"bad.key":1}' },
        { device: devices[0], patchJson: '{"b":2}' },
      ],
    });
    expect(r.results.map((x) => x.error?.code ?? x.reportedVersion)).toEqual([2, 2, 'ArgumentInvalid', 3]);
    expect((await twinOf(ids[0]!)).properties.reported).toMatchObject({ a: 1, b: 2, $version: 3 });
    expect((await twinOf(ids[1]!)).properties.reported).toMatchObject({ x: 1, $version: 2 });
  });

  it('applies a batch of service twin patches in order, each answered alone with its twin or error', async () => {
    const ids = [uniqueName('ub'), uniqueName('ub')];
    for (const id of ids) await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: id }) });
    const etag0 = (await twin.getTwin({ key: key(ids[0]!) })).etag;
    const r = await twin.updateTwinBatch({
      items: [
        { key: key(ids[0]!), patchJson: '{"properties":{"desired":{"a":1}}}', ifMatch: `"${etag0}"` },
        { key: key(ids[1]!), patchJson: '{"tags":{"t":1}}' },
        { key: key(ids[0]!), patchJson: '{"properties":{"desired":{"b":1}}}', ifMatch: `"${etag0}"` }, // stale after the first
        { key: key(uniqueName('none')), patchJson: '{"tags":{"t":1}}' },
        { key: key(ids[1]!), patchJson: 'not json' },
        { key: key(ids[0]!), patchJson: '{"properties":{"desired":{"c":1}}}' },
      ],
    });
    expect(r.results.map((x) => x.error?.code ?? 'ok')).toEqual(['ok', 'ok', 'PreconditionFailed', 'DeviceNotFound', 'ArgumentInvalid', 'ok']);
    const last = JSON.parse(r.results[5]!.twinJson) as Loose;
    expect(last.properties.desired).toMatchObject({ a: 1, c: 1, $version: 3 });
    expect(last.properties.desired).not.toHaveProperty('b');
    expect(r.results[5]!.etag).toBe((await twin.getTwin({ key: key(ids[0]!) })).etag);
    expect((JSON.parse(r.results[1]!.twinJson) as { tags: unknown }).tags).toEqual({ t: 1 });
  });

  it('publishes twin-change events and pushes desired patches over NATS', async () => {
    const id = uniqueName('evt');
    await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: id }) });
    const pushes: unknown[] = [];
    const versions: Array<string | undefined> = [];
    const sub = nc.subscribe(subjects.desired(subjects.identity(hub, id)), {
      callback: (_e, m) => {
        pushes.push(m.json());
        versions.push(m.headers?.get('Iothub-Desired-Version'));
      },
    });
    await nc.flush();
    const jsm = await jetstreamManager(nc);
    const consumer = await jsm.consumers.add('EVENTS', { ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: subjects.twinChange(hub, id), inactive_threshold: 60_000_000_000 });
    await twin.updateTwin({ key: key(id), patchJson: JSON.stringify({ tags: { a: 1 }, properties: { desired: { x: 1 } } }) });
    await twin.replaceTwin({ key: key(id), twinJson: JSON.stringify({ properties: { desired: { y: 2 } } }) });
    await twinApp.relay.flush();
    const c = await jetstream(nc).consumers.get('EVENTS', consumer.name);
    const ops: Array<string | undefined> = [];
    const bodies: Loose[] = [];
    for await (const m of await c.fetch({ max_messages: 2, expires: 2000 })) {
      ops.push(m.headers?.get('opType'));
      bodies.push(m.json());
      m.ack();
    }
    expect(ops).toEqual(['updateTwin', 'replaceTwin']);
    expect(bodies[0]).toMatchObject({ tags: { a: 1 }, properties: { desired: { x: 1, $version: 2 } } });
    await nc.flush();
    const deadline = Date.now() + 5000;
    while (pushes.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(pushes).toEqual([{ x: 1, $version: 2 }, { x: null, y: 2, $version: 3 }]);
    expect(versions).toEqual(['2', '3']);
    sub.unsubscribe();
    await jsm.consumers.delete('EVENTS', consumer.name);
  });
});
