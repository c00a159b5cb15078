import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, registryV1, twinV1 } from '@openiothub/proto';
import { createRegistryApp, loadRegistryConfig } from '@openiothub/registry';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { createTwinApp, loadTwinConfig, type TwinApp } from '../src/index.js';

// Automatic device configurations (seeds-protocols-ops §9, checklist 162–178) through the twin
// service's gRPC API, with the reconciler running against Postgres.

const urls = testUrls();
const ctx = testContext('twin-config-int');
const hub = uniqueName('cfghub');
let app: TwinApp;
let registry: ReturnType<typeof connectClient<registryV1.RegistryServiceClient>>;
let twin: ReturnType<typeof connectClient<twinV1.TwinServiceClient>>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;
const key = (deviceId: string, moduleId = '') => ({ hub, deviceId, moduleId });
const twinOf = async (deviceId: string, moduleId = '') => JSON.parse((await twin.getTwin({ key: key(deviceId, moduleId) })).twinJson) as Loose;
const tag = (deviceId: string, tags: Loose) => twin.updateTwin({ key: key(deviceId), patchJson: JSON.stringify({ tags }) });
const put = async (id: string, body: Loose, ifMatch?: string) => JSON.parse((await twin.putConfiguration({ hub, id, configurationJson: JSON.stringify(body), ifMatch })).configurationJson) as Loose;
const get = async (id: string) => JSON.parse((await twin.getConfiguration({ hub, id })).configurationJson) as Loose;
const settle = () => app.reconciler.idle();
async function eventually(check: () => Promise<void>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
const queryIds = async (q: string) => (JSON.parse((await twin.query({ hub, query: q, pageSize: 0, continuation: '' })).itemsJson) as Loose[]).map((r) => r.deviceId as string);

beforeAll(async () => {
  const reg = await createRegistryApp(loadRegistryConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', DEFAULT_HUB: hub }), ctx);
  app = await createTwinApp(loadTwinConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', REGISTRY_GRPC_URL: `127.0.0.1:${reg.grpcPort}`, CONFIG_RECONCILE_MS: '300' }), ctx);
  registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, `127.0.0.1:${reg.grpcPort}`);
  twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, `127.0.0.1:${app.grpcPort}`);
  for (const id of ['wa1', 'wa2', 'or1', 'none']) await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: id }) });
  await tag('wa1', { location: { state: 'Washington' }, environment: 'test' });
  await tag('wa2', { location: { state: 'Washington' } });
  await tag('or1', { location: { state: 'Oregon' } });
});

afterAll(async () => {
  registry?.close();
  twin?.close();
  await ctx[Symbol.asyncDispose]();
});

const chiller = {
  labels: { HostPlatform: 'Linux' },
  content: { deviceContent: { 'properties.desired.chillerWaterSettings': { temperature: 38, pressure: 78 } } },
  targetCondition: "tags.location.state='Washington'",
  priority: 10,
  metrics: { queries: { Compliant: "select deviceId from devices where configurations.[[chillersettings]].status = 'Applied' AND properties.reported.chillerWaterSettings.status='current'" } },
};

describe('automatic device configurations', () => {
  it('applies content to the twins its target condition selects, with metrics and a queryable status (scenario 19)', async () => {
    const created = await put('chillersettings', chiller);
    expect(created).toMatchObject({ id: 'chillersettings', schemaVersion: '1.0', priority: 10, labels: { HostPlatform: 'Linux' }, etag: expect.any(String), createdTimeUtc: expect.any(String) });
    await settle();
    for (const id of ['wa1', 'wa2']) {
      const t = await twinOf(id);
      expect(t.properties.desired.chillerWaterSettings).toEqual({ temperature: 38, pressure: 78 });
      expect(t.configurations).toEqual({ chillersettings: { status: 'Applied' } });
    }
    expect((await twinOf('or1')).properties.desired.chillerWaterSettings).toBeUndefined();
    expect(await queryIds("SELECT deviceId FROM devices WHERE configurations.[[chillersettings]].status = 'Applied'")).toEqual(['wa1', 'wa2']);
    const wa1 = (await registry.getDevice({ hub, deviceId: 'wa1' })).device!;
    await twin.patchReported({ device: { key: key('wa1'), generationId: wa1.generationId, modelId: '' }, patchJson: JSON.stringify({ chillerWaterSettings: { status: 'current' } }) });
    expect(await get('chillersettings')).toMatchObject({ systemMetrics: { results: { targetedCount: 2, appliedCount: 2 } }, metrics: { results: { Compliant: 1 } } });
  });

  it('applies to a twin that gains the matching tag later, and to a new device through the periodic check', async () => {
    await tag('none', { location: { state: 'Washington' } });
    await settle();
    expect((await twinOf('none')).properties.desired.chillerWaterSettings).toEqual({ temperature: 38, pressure: 78 });
    await put('everyone', { content: { deviceContent: { 'properties.desired.telemetry.interval': 30 } }, targetCondition: '*', priority: 1 });
    await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: 'newcomer' }) });
    await eventually(async () => expect((await twinOf('newcomer')).properties.desired.telemetry).toEqual({ interval: 30 }));
  });

  it('moves twins when the target condition changes, falling back to the next configuration, and on delete', async () => {
    await put('fallback', { content: { deviceContent: { 'properties.desired.chillerWaterSettings': { temperature: 50, pressure: 50 } } }, targetCondition: "tags.location.state = 'Washington' OR tags.location.state = 'Oregon'", priority: 5 });
    await settle();
    expect((await twinOf('or1')).properties.desired.chillerWaterSettings).toEqual({ temperature: 50, pressure: 50 });
    expect((await twinOf('wa1')).configurations).toMatchObject({ chillersettings: { status: 'Applied' }, fallback: { status: 'Targeted' } });

    const current = await get('chillersettings');
    await expect(put('chillersettings', { ...chiller, targetCondition: "tags.location.state='Oregon'" }, '"stale"')).rejects.toMatchObject({ code: 'PreconditionFailed' });
    await expect(put('chillersettings', { ...chiller, content: { deviceContent: { 'properties.desired.other': 1 } } }, current.etag)).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await put('chillersettings', { ...chiller, targetCondition: "tags.location.state='Oregon'", labels: { HostPlatform: 'Linux', Version: '2' } }, current.etag);
    await settle();
    expect((await twinOf('wa1')).properties.desired.chillerWaterSettings).toEqual({ temperature: 50, pressure: 50 });
    expect((await twinOf('wa1')).configurations).toEqual({ fallback: { status: 'Applied' }, everyone: { status: 'Applied' } });
    expect((await twinOf('or1')).properties.desired.chillerWaterSettings).toEqual({ temperature: 38, pressure: 78 });

    await twin.deleteConfiguration({ hub, id: 'chillersettings' });
    await settle();
    expect((await twinOf('or1')).properties.desired.chillerWaterSettings).toEqual({ temperature: 50, pressure: 50 });
    await twin.deleteConfiguration({ hub, id: 'fallback' });
    await settle();
    const orphan = await twinOf('or1');
    expect(orphan.properties.desired.chillerWaterSettings).toBeUndefined();
    expect(orphan.configurations).toEqual({ everyone: { status: 'Applied' } });
    await expect(twin.getConfiguration({ hub, id: 'fallback' })).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('refuses a second create of an id, lists configurations, and applies content once to a device and its module', async () => {
    await expect(put('everyone', { content: { deviceContent: { 'properties.desired.a': 1 } }, targetCondition: '*', priority: 1 })).rejects.toMatchObject({ code: 'EntityAlreadyExists' });
    expect((JSON.parse((await twin.listConfigurations({ hub, top: 0 })).itemsJson) as Loose[]).map((c) => c.id)).toEqual(['everyone']);
    const m = (await registry.putModule({ hub, module: registryV1.Module.fromPartial({ deviceId: 'or1', moduleId: 'sensor' }) })).module!;
    expect(m.moduleId).toBe('sensor');
    await twin.applyConfigurationContent({ hub, deviceId: 'or1', contentJson: JSON.stringify({ deviceContent: { 'properties.desired.once.a': 1, 'properties.desired.once.b': 2 }, modulesContent: { sensor: { 'properties.desired': { rate: 5 } } } }) });
    expect((await twinOf('or1')).properties.desired.once).toEqual({ a: 1, b: 2 });
    expect((await twinOf('or1', 'sensor')).properties.desired.rate).toBe(5);
    await expect(twin.applyConfigurationContent({ hub, deviceId: 'or1', contentJson: JSON.stringify({ modulesContent: { ghost: { 'properties.desired': { a: 1 } } } }) })).rejects.toMatchObject({ code: 'ModuleNotFound' });
  });
});
