import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventHubConsumerClient, type ReceivedEventData } from '@azure/event-hubs';
import { Registry } from 'azure-iothub';
import { startAzurite, type Azurite } from '@openiothub/testing';
import { createDevice, createModule } from './devices.js';
import { ehConnectionString, subscribeAll } from './eventhubs.js';
import { hub, hubFetch, iothub, ownerConnectionString, poll } from './helpers.js';
import { natsEndpoint, putRouting, readBlobs, resetRouting, sendWithSdk, webhook } from './routing.js';

let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => {
  await resetRouting();
  await azurite.stop();
});
// every test configures routing for itself; the other test files expect IoT Hub's default
afterEach(async () => {
  await resetRouting();
});

const errorOf = async (res: Response) => ({ status: res.status, body: (await res.json()) as { Message?: string } });

describe('message routing (devguide §4, scenarios 23–29)', () => {
  it('scenario 23: level="storage" → blob container (Avro), level=\'critical\' → a queue, the rest → fallback → the built-in endpoint', async () => {
    const container = `contosoresults${Date.now() % 100000}`;
    const doc = {
      endpoints: {
        storageContainers: [
          { name: 'StorageContainer', connectionString: azurite.connectionString, containerName: container, batchFrequencyInSeconds: 1, maxChunkSizeInBytes: 10_485_760 },
          { name: 'StorageJson', connectionString: azurite.connectionString, containerName: `${container}-json`, batchFrequencyInSeconds: 1, encoding: 'json', fileNameFormat: '{iothub}/{YYYY}-{MM}-{DD}/{HH}{mm}/p{partition}' },
        ],
        natsSubjects: [{ name: 'CriticalQueue' }],
      },
      routes: [
        { name: 'StorageRoute', source: 'DeviceMessages', condition: 'level="storage"', endpointNames: ['StorageContainer'], isEnabled: true },
        { name: 'SBQueueRoute', source: 'DeviceMessages', condition: "level='critical'", endpointNames: ['CriticalQueue'], isEnabled: true },
        { name: 'StorageJsonRoute', source: 'DeviceMessages', condition: 'level="storage"', endpointNames: ['StorageJson'], isEnabled: true },
      ],
    };
    const put = await putRouting(doc);
    // the defaults IoT Hub fills in show in the stored document
    expect(put.body).toMatchObject({
      endpoints: { storageContainers: [{ name: 'StorageContainer', encoding: 'avro', fileNameFormat: '{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}' }, { name: 'StorageJson', encoding: 'json' }], natsSubjects: [{ name: 'CriticalQueue', subject: expect.stringMatching(/^ep\./) as unknown }] },
      fallbackRoute: { name: '$fallback', endpointNames: ['events'], isEnabled: true },
    });

    const eh = new EventHubConsumerClient('$Default', await ehConnectionString());
    const builtIn: ReceivedEventData[] = [];
    const sub = subscribeAll(eh, builtIn, { enqueuedOn: new Date() });
    const queue = await natsEndpoint('CriticalQueue');
    await new Promise((r) => setTimeout(r, 1500)); // Event Hubs receivers attach

    const device = await createDevice('contoso');
    const levels = ['normal', 'critical', 'storage', 'normal', 'storage', 'critical', 'normal', 'normal', 'storage', 'normal', 'critical', 'normal'];
    await sendWithSdk(device, levels.map((level, i) => ({ props: { level }, body: { deviceId: device.deviceId, temperature: 20 + i, humidity: 60 } })));
    const count = (l: string) => levels.filter((x) => x === l).length;
    const mine = (e: ReceivedEventData) => e.systemProperties?.['iothub-connection-device-id'] === device.deviceId;

    await poll(async () => queue.messages.length, (n) => n >= count('critical'), 15_000, 'critical messages in the queue');
    await poll(async () => builtIn.filter(mine).length, (n) => n >= count('normal'), 15_000, 'normal messages on the built-in endpoint');
    const blobs = await poll(
      () => readBlobs(azurite.connectionString, container),
      (bs) => bs.flatMap((b) => b.records).length >= count('storage'),
      20_000,
      'storage messages in blobs',
    );
    await new Promise((r) => setTimeout(r, 1500)); // nothing else arrives late anywhere
    expect(queue.messages.map((m) => m.applicationProperties['level'])).toEqual(Array(count('critical')).fill('critical'));
    expect(builtIn.filter(mine).map((e) => e.properties?.['level'])).toEqual(Array(count('normal')).fill('normal'));
    const records = (await readBlobs(azurite.connectionString, container)).flatMap((b) => b.records);
    expect(records.map((r) => r.Properties['level'])).toEqual(Array(count('storage')).fill('storage'));
    expect(records[0]!.SystemProperties).toMatchObject({ connectionDeviceId: device.deviceId, contentType: 'application/json', contentEncoding: 'utf-8' });
    expect(JSON.parse(Buffer.from(records[0]!.Body as Buffer).toString('utf8'))).toMatchObject({ deviceId: device.deviceId, humidity: 60 });
    // blob names: {iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}[-NN]; one blob per partition and window, empty ones too
    for (const b of blobs) expect(b.name).toMatch(new RegExp(`^${hub().hub}/[0-3]/\\d{4}/\\d{2}/\\d{2}/\\d{2}/\\d{2}(-\\d{2})?$`));
    const names = (await readBlobs(azurite.connectionString, container)).map((b) => b.name);
    expect(names.some((n) => /-0\d$/.test(n)), 'several windows in one minute give -01 … suffixes').toBe(true);
    expect((await readBlobs(azurite.connectionString, container)).some((b) => b.records.length === 0), 'empty blobs when a window had no data').toBe(true);

    // JSON encoding: one record per line, the body as JSON, under the custom file name format
    const json = await poll(() => readBlobs(azurite.connectionString, `${container}-json`), (bs) => bs.flatMap((b) => b.records).length >= count('storage'), 15_000, 'JSON blobs');
    for (const b of json) expect(b.name).toMatch(new RegExp(`^${hub().hub}/\\d{4}-\\d{2}-\\d{2}/\\d{4}/p[0-3](-\\d{2})?$`));
    const jsonRecords = json.flatMap((b) => b.records);
    expect(jsonRecords.map((r) => r.Properties['level'])).toEqual(Array(count('storage')).fill('storage'));
    expect(jsonRecords[0]!.Body).toMatchObject({ deviceId: device.deviceId, humidity: 60 });
    expect(jsonRecords[0]!.EnqueuedTimeUtc).toMatch(/^\d{4}-\d{2}-\d{2}T/);

    const health = (await (await hubFetch('/settings/routing/endpointsHealth')).json()) as { value: { endpointId: string; healthStatus: string }[] };
    expect(health.value).toEqual(expect.arrayContaining([expect.objectContaining({ endpointId: 'StorageContainer', healthStatus: 'healthy' }), expect.objectContaining({ endpointId: 'CriticalQueue', healthStatus: 'unknown' })]));
    await sub.close();
    await eh.close();
    await queue.close();
  });

  it('routes on $body, system properties and $twin; enrichments reach the endpoint; a module message sees no twin', async () => {
    const device = await createDevice('weather');
    const registry = Registry.fromConnectionString(ownerConnectionString());
    const twin = await registry.getTwin(device.deviceId);
    await twin.responseBody.update({ tags: { deploymentLocation: { building: '43', floor: 1 } }, properties: { desired: { telemetryConfig: { sendFrequency: '5m' } } } });
    await putRouting({
      endpoints: { natsSubjects: [{ name: 'body-twin' }, { name: 'sysprops' }] },
      routes: [
        { name: 'bodyAndTwin', condition: "$body.Weather.Temperature = 50 AND $twin.properties.desired.telemetryConfig.sendFrequency = '5m' AND $twin.tags.deploymentLocation.floor = 1", endpointNames: ['body-twin'] },
        { name: 'arrays', condition: "$body.Weather.HistoricalData[0].Month = 'Feb' AND length($body.Weather.Location.State) = 2", endpointNames: ['body-twin'] },
        { name: 'sys', condition: `$connectionDeviceId = '${device.deviceId}' AND STATUS = 'Active'`, endpointNames: ['sysprops'] },
        { name: 'enc', condition: "$contentEncoding = 'utf-8' AND $contentType = 'application/json' AND n = '2'", endpointNames: ['sysprops'] },
      ],
      enrichments: [
        { key: 'building', value: '$twin.tags.deploymentLocation.building', endpointNames: ['body-twin'] },
        { key: 'hub', value: '$iothubname', endpointNames: ['body-twin', 'sysprops'] },
        { key: 'static', value: 'fixed-value', endpointNames: ['sysprops'] },
        { key: 'missing', value: '$twin.tags.nope', endpointNames: ['sysprops'] },
      ],
    });
    const bodyTwin = await natsEndpoint('body-twin');
    const sys = await natsEndpoint('sysprops');
    const weather = { Weather: { Temperature: 50, IsEnabled: true, Location: { State: 'WA' }, HistoricalData: [{ Month: 'Feb' }, { Month: 'Jan' }] } };
    await sendWithSdk(device, [
      { body: weather, props: { Status: 'Active', n: '1' } },
      { body: { Weather: { Temperature: 49 } }, props: { n: '2' } },
      // without content type and encoding the body is not looked at
      { body: weather, json: false, props: { n: '3', Status: 'Active' } },
    ]);
    const mod = await createModule(device.deviceId, 'sensor');
    await sendWithSdk(mod, [{ body: { Weather: { Temperature: 50 } }, props: { n: 'module' } }]);
    await poll(async () => bodyTwin.messages.length + sys.messages.length, (n) => n >= 4, 15_000, 'routed messages');
    await new Promise((r) => setTimeout(r, 1500));
    // message 1 matches two routes to body-twin: stored there once
    expect(bodyTwin.messages.map((m) => m.applicationProperties['n'])).toEqual(['1']);
    expect(bodyTwin.messages[0]!.applicationProperties).toMatchObject({ building: '43', hub: hub().hub, Status: 'Active' });
    expect(bodyTwin.messages[0]!.applicationProperties['static']).toBeUndefined();
    // message 3 has no content type: property conditions still route it; the module's message matched nothing
    expect(sys.messages.map((m) => m.applicationProperties['n'])).toEqual(['1', '2', '3']);
    expect(sys.messages[0]!.applicationProperties).toMatchObject({ hub: hub().hub, static: 'fixed-value', missing: '$twin.tags.nope' });
    await bodyTwin.close();
    await sys.close();
  });

  it('scenario 25: a route to events plus a custom endpoint; fallback off drops what matches nothing; fallback to a custom endpoint', async () => {
    const device = await createDevice('fallback');
    await putRouting({
      endpoints: { natsSubjects: [{ name: 'hot' }, { name: 'rest' }] },
      routes: [
        { name: 'hotToQueue', condition: "path = 'hot'", endpointNames: ['hot'] },
        { name: 'hotToEvents', condition: "path = 'hot'", endpointNames: ['events'] },
      ],
      fallbackRoute: { isEnabled: false, endpointNames: ['events'] },
    });
    const hot = await natsEndpoint('hot');
    const rest = await natsEndpoint('rest');
    const eh = new EventHubConsumerClient('$Default', await ehConnectionString());
    const builtIn: ReceivedEventData[] = [];
    const sub = subscribeAll(eh, builtIn, { enqueuedOn: new Date() });
    await new Promise((r) => setTimeout(r, 1500));
    await sendWithSdk(device, [{ props: { path: 'hot', n: 'a' } }, { props: { path: 'cold', n: 'b' } }]);
    const mine = (e: ReceivedEventData) => e.systemProperties?.['iothub-connection-device-id'] === device.deviceId;
    await poll(async () => builtIn.filter(mine).length + hot.messages.length, (n) => n >= 2, 15_000, 'hot message at both endpoints');
    await new Promise((r) => setTimeout(r, 1500));
    expect(hot.messages.map((m) => m.applicationProperties['n'])).toEqual(['a']);
    expect(builtIn.filter(mine).map((e) => e.properties?.['n'])).toEqual(['a']); // 'b' matched nothing: dropped

    // the fallback route pointed at a custom endpoint
    await putRouting({ endpoints: { natsSubjects: [{ name: 'hot' }, { name: 'rest' }] }, routes: [{ name: 'hotToQueue', condition: "path = 'hot'", endpointNames: ['hot'] }], fallbackRoute: { isEnabled: true, endpointNames: ['rest'] } });
    await sendWithSdk(device, [{ props: { path: 'cold', n: 'c' } }]);
    await poll(async () => rest.messages.length, (n) => n >= 1, 15_000, 'fallback to a custom endpoint');
    expect(rest.messages.map((m) => m.applicationProperties['n'])).toEqual(['c']);
    expect(builtIn.filter(mine).map((e) => e.properties?.['n'])).toEqual(['a']);
    await sub.close();
    await eh.close();
    await hot.close();
    await rest.close();
  });

  it('rejects invalid documents with IoT Hub errors and keeps the stored one', async () => {
    await putRouting({ endpoints: { natsSubjects: [{ name: 'keep' }] }, routes: [{ name: 'r1', condition: "a = 'b'", endpointNames: ['keep'] }] });
    const put = (doc: unknown) => hubFetch('/settings/routing', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
    const bad = await errorOf(await put({ routes: [{ name: 'r1', condition: "level = 'x' AND", endpointNames: ['events'] }] }));
    expect(bad.status).toBe(400);
    expect(bad.body.Message).toMatch(/ErrorCode:ArgumentInvalid;.*position 15/);
    expect((await errorOf(await put({ routes: [{ name: 'r1', endpointNames: ['events'] }, { name: 'R1', endpointNames: ['events'] }] }))).body.Message).toMatch(/used twice/);
    expect((await errorOf(await put({ routes: [{ name: 'r', endpointNames: ['nowhere'] }] }))).body.Message).toMatch(/does not exist/);
    expect((await errorOf(await put({ routes: Array.from({ length: 101 }, (_, i) => ({ name: `r${i}`, endpointNames: ['events'] })) }))).body.Message).toMatch(/at most 100 routes/);
    expect((await errorOf(await put({ endpoints: { natsSubjects: Array.from({ length: 11 }, (_, i) => ({ name: `e${i}` })) } }))).body.Message).toMatch(/at most 10 custom endpoints/);
    expect((await errorOf(await put({ endpoints: { storageContainers: [{ name: 's', connectionString: azurite.connectionString, containerName: 'abc', fileNameFormat: '{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}' }] } }))).body.Message).toMatch(/missing \{mm\}/);
    expect((await errorOf(await put({ endpoints: { serviceBusQueues: [{ name: 'sb' }] } }))).body.Message).toMatch(/not supported/);
    expect((await errorOf(await put({ enrichments: Array.from({ length: 11 }, (_, i) => ({ key: `k${i}`, value: 'v', endpointNames: ['events'] })) }))).body.Message).toMatch(/at most 10/);
    // the encoding of a blob endpoint is fixed at creation
    const storage = { name: 'store', connectionString: azurite.connectionString, containerName: 'enc-test', batchFrequencyInSeconds: 60 };
    await putRouting({ endpoints: { storageContainers: [storage] } });
    expect((await errorOf(await put({ endpoints: { storageContainers: [{ ...storage, encoding: 'json' }] } }))).body.Message).toMatch(/cannot be changed/);
    // If-Match with a stale etag
    const current = await hubFetch('/settings/routing');
    const etag = current.headers.get('etag')!;
    await putRouting({ endpoints: { storageContainers: [storage] } });
    const stale = await hubFetch('/settings/routing', { method: 'PUT', headers: { 'content-type': 'application/json', 'if-match': etag }, body: '{}' });
    expect(stale.status).toBe(412);
    const stored = (await (await hubFetch('/settings/routing')).json()) as { endpoints: { storageContainers: { encoding: string }[] } };
    expect(stored.endpoints.storageContainers[0]!.encoding).toBe('avro');
  });

  it('test-route API: one route ($testnew) and all routes ($testall) against a sample message, routing nothing', async () => {
    await putRouting({
      endpoints: { natsSubjects: [{ name: 'q' }] },
      routes: [
        { name: 'a', condition: "level = 'critical'", endpointNames: ['q'] },
        { name: 'b', condition: '$body.Weather.Temperature > 40', endpointNames: ['events'] },
        { name: 'c', source: 'TwinChangeEvents', condition: 'true', endpointNames: ['q'] },
      ],
    });
    const message = { body: JSON.stringify({ Weather: { Temperature: 50 } }), appProperties: { level: 'critical' }, systemProperties: { contentType: 'application/json', contentEncoding: 'UTF-8' } };
    const test = async (path: string, body: unknown) => (await hubFetch(`/settings/routing/routes/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
    expect(await test('$testnew', { message, route: { name: 'x', source: 'DeviceMessages', condition: "level = 'critical'", endpointNames: ['q'] } })).toMatchObject({ result: 'true' });
    expect(await test('$testnew', { message, route: { name: 'x', condition: "level = 'storage'" } })).toMatchObject({ result: 'false' });
    expect(await test('$testnew', { message, route: { name: 'x', condition: '$twin.tags.x = 1' }, twin: { tags: { x: 1 } } })).toMatchObject({ result: 'true' });
    expect(await test('$testnew', { message, route: { name: 'x', condition: 'nope = 1' } })).toMatchObject({ result: 'undefined' });
    const syntax = (await test('$testnew', { message, route: { name: 'x', condition: 'level = ' } })) as { result: string; details: { compilationErrors: { message: string; location: { start: { column: number } } }[] } };
    expect(syntax.result).toBe('undefined');
    expect(syntax.details.compilationErrors[0]!.location.start.column).toBe(8);
    const all = (await test('$testall', { routingSource: 'DeviceMessages', message })) as { routes: { properties: { name: string } }[] };
    expect(all.routes.map((r) => r.properties.name)).toEqual(['a', 'b']);
  });

  it('webhook endpoint down, then up: every message arrives; health goes unhealthy, then healthy', async () => {
    let up = false;
    const hook = await webhook(() => (up ? 200 : 503));
    await putRouting({ endpoints: { webhooks: [{ name: 'hook', url: hook.url, headers: { 'x-api-key': 'k1' } }] }, routes: [{ name: 'all', condition: 'true', endpointNames: ['hook'] }] });
    const device = await createDevice('hook');
    await sendWithSdk(device, Array.from({ length: 6 }, (_, i) => ({ props: { n: String(i) }, body: { i } })));
    const healthOf = async () => ((await (await hubFetch('/settings/routing/endpointsHealth')).json()) as { value: { endpointId: string; healthStatus: string; lastKnownError: string | null }[] }).value[0]!;
    await poll(healthOf, (h) => h.healthStatus === 'unhealthy', 15_000, 'endpoint unhealthy');
    expect((await healthOf()).lastKnownError).toMatch(/503/);
    expect(hook.attempts).toBeGreaterThan(0);
    up = true;
    await poll(async () => hook.accepted.length, (n) => n >= 6, 30_000, 'webhook deliveries after recovery');
    await poll(healthOf, (h) => h.healthStatus === 'healthy', 10_000, 'endpoint healthy again');
    const ns = hook.accepted.map((r) => decodeURIComponent(String(r.headers['iothub-app-n']))).sort();
    // an endpoint that keeps failing past its retry period is dead; the message is dead-lettered
    const down = await webhook(() => 500);
    await putRouting({ endpoints: { webhooks: [{ name: 'gone', url: down.url, retryPeriodInSeconds: 2 }] }, routes: [{ name: 'all', condition: 'true', endpointNames: ['gone'] }] });
    await sendWithSdk(device, [{ props: { n: 'x' } }]);
    await poll(healthOf, (h) => h.endpointId === 'gone' && h.healthStatus === 'dead', 20_000, 'endpoint dead');
    const attempts = down.attempts;
    expect(attempts).toBeGreaterThan(1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(down.attempts).toBe(attempts); // no more retries after dead-lettering
    await down.close();
    expect(ns).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(hook.accepted[0]!.headers).toMatchObject({ 'x-api-key': 'k1', 'content-type': 'application/json', 'iothub-connectiondeviceid': device.deviceId });
    await hook.close();
  });

  it('the iothub CLI manages endpoints, routes, enrichments and the fallback; changes apply without restarts', async () => {
    const ok = async (...argv: string[]) => {
      const r = await iothub(...argv);
      expect(r.code, r.err).toBe(0);
      return r.json();
    };
    expect(await ok('endpoint', 'create', '-n', 'alerts', '-t', 'nats')).toEqual({ name: 'alerts' });
    expect(await ok('route', 'create', '-n', 'myalert', '--en', 'alerts', '-c', 'temperatureAlert = "true"')).toMatchObject({ name: 'myalert', source: 'DeviceMessages', isEnabled: true });
    await ok('enrichment', 'create', '-k', 'hub', '-v', '$iothubname', '--en', 'alerts');
    expect(await ok('route', 'test', '-n', 'myalert', '--ap', 'temperatureAlert=true')).toMatchObject({ result: 'true' });
    expect(await ok('route', 'test', '--ap', 'temperatureAlert=false')).toEqual({ routes: [] });
    const refused = await iothub('route', 'create', '-n', 'broken', '--en', 'alerts', '-c', 'temperatureAlert = ');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/400 ErrorCode:ArgumentInvalid/);
    expect((await ok('route', 'list')) as unknown[]).toHaveLength(1);
    expect(await ok('endpoint', 'health')).toEqual({ value: [expect.objectContaining({ endpointId: 'alerts', healthStatus: 'unknown' })] });

    // scenario 27: exactly the alert messages reach the queue, enriched
    const alerts = await natsEndpoint('alerts');
    const device = await createDevice('alert');
    await sendWithSdk(device, [31, 25, 35, 20].map((t) => ({ body: { temperature: t }, props: { temperatureAlert: t > 30 ? 'true' : 'false', t: String(t) } })));
    await poll(async () => alerts.messages.length, (n) => n >= 2, 15_000, 'alerts');
    await new Promise((r) => setTimeout(r, 1000));
    expect(alerts.messages.map((m) => m.applicationProperties['t'])).toEqual(['31', '35']);
    expect(alerts.messages[0]!.applicationProperties['hub']).toBe(hub().hub);

    expect(await ok('route', 'fallback', '-e', 'false')).toMatchObject({ isEnabled: false });
    await ok('route', 'update', '-n', 'myalert', '-e', 'false');
    await ok('route', 'delete', '-n', 'myalert');
    await ok('enrichment', 'delete', '-k', 'hub');
    await ok('endpoint', 'delete', '-n', 'alerts');
    expect(await ok('route', 'list')).toEqual([]);
    await alerts.close();
  });

  it('a blob batch is written when it reaches the chunk size, long before the batch frequency', async () => {
    const container = `chunks${Date.now() % 100000}`;
    await putRouting({
      endpoints: { storageContainers: [{ name: 'big', connectionString: azurite.connectionString, containerName: container, batchFrequencyInSeconds: 720, maxChunkSizeInBytes: 10_485_760, encoding: 'json' }] },
      routes: [{ name: 'all', condition: 'true', endpointNames: ['big'] }],
    });
    const device = await createDevice('chunk');
    const filler = 'x'.repeat(250 * 1024);
    await sendWithSdk(device, Array.from({ length: 44 }, (_, i) => ({ props: { i: String(i) }, body: { filler } })));
    const blobs = await poll(() => readBlobs(azurite.connectionString, container), (bs) => bs.length > 0, 20_000, 'a blob from the chunk size');
    const records = blobs.flatMap((b) => b.records);
    // the batch closed at the first message that took it past 10 MB; the rest waits for the window
    expect(records.length).toBeGreaterThanOrEqual(40);
    expect(records.length).toBeLessThan(44);
    expect(records.map((r) => Number(r.Properties['i']))).toEqual(records.map((_, i) => i));
  });
});

