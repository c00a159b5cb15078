import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, registryV1, twinV1 } from '@openiothub/proto';
import { createRegistryApp, loadRegistryConfig } from '@openiothub/registry';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { createTwinApp, loadTwinConfig } from '../src/index.js';

// Twin queries (devguide §16, checklist O) through the twin service's gRPC API, against the real
// registry and Postgres. The hub holds: 7 devices with tags/reported values, 1 device never
// written (no twin row), 2 modules; a deleted-and-re-created device shows only its new twin.

const urls = testUrls();
const ctx = testContext('twin-query-int');
const hub = uniqueName('qhub');
let registry: ReturnType<typeof connectClient<registryV1.RegistryServiceClient>>;
let twin: ReturnType<typeof connectClient<twinV1.TwinServiceClient>>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;
const key = (deviceId: string, moduleId = '') => ({ hub, deviceId, moduleId });

const fleet: Array<{ id: string; tags?: Loose; reported?: Loose }> = [
  { id: 'd1', tags: { location: { region: 'US', plant: 'Redmond43' } }, reported: { connectivity: { type: 'cellular' }, telemetryConfig: { status: 'Success', sendFrequencyInSecs: 300 } } },
  { id: 'd2', tags: { location: { region: 'US', plant: 'Redmond43' } }, reported: { connectivity: { type: 'wifi' }, telemetryConfig: { status: 'Success', sendFrequencyInSecs: 30 } } },
  { id: 'd3', tags: { location: { region: 'EU', plant: 'Dublin' } }, reported: { connectivity: { type: 'wired' }, telemetryConfig: { status: 'Pending', sendFrequencyInSecs: 60 } } },
  { id: 'd4', tags: { location: { region: 'US', plant: 'Austin' }, group: { name: 'g1' } }, reported: { connectivity: null, telemetryConfig: { status: 'Error', sendFrequencyInSecs: 90 } } },
  { id: 'd5', tags: { location: { region: 'us' } }, reported: { telemetryConfig: { status: 'Success', sendFrequencyInSecs: '300' } } },
  { id: 'd6', tags: { location: { region: 'EU' } }, reported: { telemetryConfig: { status: 'Pending', sendFrequencyInSecs: 120 } } },
  { id: 'd7', tags: { location: { region: 'US' } }, reported: {} },
  { id: 'fresh' },
];

async function query(q: string, pageSize = 0, continuation = '') {
  const r = await twin.query({ hub, query: q, pageSize, continuation });
  return { items: JSON.parse(r.itemsJson) as Loose[], continuation: r.continuation, itemType: r.itemType };
}
async function all(q: string, pageSize = 0): Promise<{ items: Loose[]; pages: number }> {
  const items: Loose[] = [];
  let token = '';
  let pages = 0;
  do {
    const page = await query(q, pageSize, token);
    items.push(...page.items);
    pages++;
    token = page.continuation ?? '';
  } while (token);
  return { items, pages };
}
const ids = async (where: string) => (await all(`SELECT * FROM devices WHERE ${where}`)).items.map((t) => t.deviceId as string);

beforeAll(async () => {
  const reg = await createRegistryApp(loadRegistryConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', DEFAULT_HUB: hub }), ctx);
  const app = await createTwinApp(loadTwinConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', REGISTRY_GRPC_URL: `127.0.0.1:${reg.grpcPort}` }), ctx);
  registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, `127.0.0.1:${reg.grpcPort}`);
  twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, `127.0.0.1:${app.grpcPort}`);
  for (const d of fleet) {
    const created = (await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: d.id }) })).device!;
    if (d.tags) await twin.updateTwin({ key: key(d.id), patchJson: JSON.stringify({ tags: d.tags }) });
    if (d.reported) await twin.patchReported({ device: { key: key(d.id), generationId: created.generationId, modelId: '' }, patchJson: JSON.stringify(d.reported) });
  }
  for (const [deviceId, moduleId, status] of [['d1', 'scanner', 'scanning'], ['d3', 'scanner', 'idle']] as const) {
    const m = (await registry.putModule({ hub, module: registryV1.Module.fromPartial({ deviceId, moduleId }) })).module!;
    await twin.patchReported({ device: { key: key(deviceId, moduleId), generationId: m.generationId, modelId: '' }, patchJson: JSON.stringify({ status }) });
  }
  // a deleted device's twin row stays behind with its old generation: the re-created device must not show it
  await twin.updateTwin({ key: key('d7'), patchJson: JSON.stringify({ tags: { stale: true } }) });
  await registry.deleteDevice({ hub, deviceId: 'd7' });
  await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: 'd7' }) });
  await twin.updateTwin({ key: key('d7'), patchJson: JSON.stringify({ tags: { location: { region: 'US' } } }) });
});

afterAll(async () => {
  registry?.close();
  twin?.close();
  await ctx[Symbol.asyncDispose]();
});

describe('twin queries over Postgres (checklist O 255–274)', () => {
  it('returns every twin, as GET /twins shows it, in pages with a continuation only while more remain', async () => {
    const { items, pages } = await all('SELECT * FROM devices', 3);
    expect(items.map((t) => t.deviceId)).toEqual(['d1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7', 'fresh']);
    expect(pages).toBe(3);
    const single = JSON.parse((await twin.getTwin({ key: key('d2') })).twinJson) as Loose;
    expect(items[1]).toEqual(single);
    expect(items[7]).toMatchObject({ deviceId: 'fresh', tags: {}, properties: { desired: { $version: 1 }, reported: { $version: 1 } }, etag: 'AAAAAAAAAAE=' });
    expect(items.every((t) => !('jobs' in t))).toBe(true);
    const last = await query('SELECT * FROM devices', 8);
    expect(last.continuation).toBeUndefined();
    expect(last.itemType).toBe('Twin');
  });

  it('filters on tags, reported properties, IN/NIN and IS_DEFINED (a reported null deletes, so it is not defined)', async () => {
    expect(await ids("tags.location.plant = 'Redmond43'")).toEqual(['d1', 'd2']);
    expect(await ids("tags.location.region = 'US' AND properties.reported.telemetryConfig.sendFrequencyInSecs >= 60")).toEqual(['d1', 'd4']);
    expect(await ids("properties.reported.connectivity.type IN ['wired', 'wifi']")).toEqual(['d2', 'd3']);
    expect(await ids("properties.reported.connectivity.type NIN ['wired', 'wifi']")).toEqual(['d1']);
    expect(await ids('is_defined(properties.reported.connectivity)')).toEqual(['d1', 'd2', 'd3']);
    expect(await ids('is_defined(tags.location.plant)')).toEqual(['d1', 'd2', 'd3', 'd4']);
    expect(await ids("tags.[[group]].name = 'g1'")).toEqual(['d4']);
    expect(await ids("deviceId IN ['d3', 'fresh', 'nope']")).toEqual(['d3', 'fresh']);
    expect(await ids("NOT (tags.location.region = 'US')")).toEqual(['d3', 'd5', 'd6']);
    expect(await ids('tags.stale = true')).toEqual([]);
    expect(await ids("status = 'enabled' AND connectionState = 'Disconnected' AND properties.reported.$version > 1")).toEqual(['d1', 'd2', 'd3', 'd4', 'd5', 'd6']);
  });

  it('compares only primitives of one type: a string "300" is not the number 300, objects never compare', async () => {
    expect(await ids('properties.reported.telemetryConfig.sendFrequencyInSecs = 300')).toEqual(['d1']);
    expect(await ids("properties.reported.telemetryConfig.sendFrequencyInSecs = '300'")).toEqual(['d5']);
    expect(await ids('tags.location = tags.location')).toEqual([]);
    expect(await ids('properties.reported.telemetryConfig.sendFrequencyInSecs = 0x12C')).toEqual(['d1']);
  });

  it('projects fields (root names case-insensitively) and honours TOP across pages', async () => {
    const p = await all("SELECT LastActivityTime, deviceId, tags.location.region AS r FROM devices WHERE status = 'enabled'");
    expect(p.items[0]).toEqual({ LastActivityTime: '0001-01-01T00:00:00Z', deviceId: 'd1', r: 'US' });
    expect(p.items[7]).toEqual({ LastActivityTime: '0001-01-01T00:00:00Z', deviceId: 'fresh' });
    const top = await all('SELECT TOP 5 * FROM devices', 2);
    expect(top.items.map((t) => t.deviceId)).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
    expect(top.pages).toBe(3);
    expect((await query('SELECT TOP 2 deviceId FROM devices')).itemType).toBe('Raw');
  });

  it('groups and aggregates as the devguide example shows', async () => {
    const g = await all('SELECT properties.reported.telemetryConfig.status AS status, COUNT() AS numberOfDevices FROM devices GROUP BY properties.reported.telemetryConfig.status');
    expect(g.items).toEqual(
      expect.arrayContaining([
        { status: 'Success', numberOfDevices: 3 },
        { status: 'Pending', numberOfDevices: 2 },
        { status: 'Error', numberOfDevices: 1 },
        { numberOfDevices: 2 },
      ]),
    );
    expect(g.items).toHaveLength(4);
    const a = await all("SELECT COUNT() AS n, AVG(properties.reported.telemetryConfig.sendFrequencyInSecs) AS avg, SUM(properties.reported.telemetryConfig.sendFrequencyInSecs), MIN(properties.reported.telemetryConfig.sendFrequencyInSecs) AS lo, MAX(properties.reported.telemetryConfig.sendFrequencyInSecs) AS hi FROM devices WHERE tags.location.region = 'US'");
    // d5's "300" is a string: not a number, left out of AVG/SUM/MIN/MAX
    expect(a.items).toEqual([{ n: 4, avg: 140, $3: 420, lo: 30, hi: 300 }]);
    const paged = await all('SELECT tags.location.region AS region, COUNT() AS n FROM devices GROUP BY tags.location.region', 2);
    expect(paged.pages).toBe(2);
    expect(paged.items).toEqual([{ region: 'EU', n: 2 }, { region: 'US', n: 4 }, { region: 'us', n: 1 }, { n: 1 }]);
  });

  it('queries module twins with device filters', async () => {
    const m = await all("SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['d1', 'd2']");
    expect(m.items).toHaveLength(1);
    expect(m.items[0]).toMatchObject({ deviceId: 'd1', moduleId: 'scanner', properties: { reported: { status: 'scanning' } } });
    expect((await all('SELECT * FROM devices.modules')).items.map((t) => `${t.deviceId}/${t.moduleId}`)).toEqual(['d1/scanner', 'd3/scanner']);
  });

  it('sees a write at once, with no index lag', async () => {
    expect(await ids("properties.reported.connectivity.type = 'satellite'")).toEqual([]);
    const d6 = (await registry.getDevice({ hub, deviceId: 'd6' })).device!;
    await twin.patchReported({ device: { key: key('d6'), generationId: d6.generationId, modelId: '' }, patchJson: JSON.stringify({ connectivity: { type: 'satellite' } }) });
    expect(await ids("properties.reported.connectivity.type = 'satellite'")).toEqual(['d6']);
  });

  it('refuses bad queries and tokens with 400 ArgumentInvalid, never running them', async () => {
    await expect(query("SELECT * FROM devices WHERE deviceId = 'x'; DROP TABLE twin.twins")).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await expect(query('SELECT * WHERE x = 1')).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await expect(query('SELECT * FROM devices WHERE UPPER(deviceId) = 1')).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await expect(query('SELECT * FROM devices', 0, 'not-a-token')).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    expect(await ids('deviceId = deviceId')).toHaveLength(8);
  });
});
