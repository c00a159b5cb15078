import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { createSasToken } from '@openiothub/auth';
import { uniqueName } from '@openiothub/testing';
import { ownHub, restOn, startExtraGateway, type ExtraGateway } from './gateways.js';
import { poll } from './helpers.js';
import { rawConnect, usernameOf } from './devices.js';

// The daily message quota (devguide §18, checklist 279-285): what each operation counts, on an S1
// hub of its own (4 KB messages, 512-byte twin chunks) served by a gateway process of the build,
// read back as ARM's quotaMetrics; and what a hub whose quota is used up refuses.

const hub = uniqueName('meter');
let gateway: ExtraGateway;
let token = '';
const clients: MqttClient[] = [];

beforeAll(async () => {
  token = (await ownHub(hub, 'S1')).token;
  gateway = await startExtraGateway({ hub });
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await gateway?.stop();
});

const rest = restOn(() => gateway, () => token);
const call = (method: string, path: string, body?: unknown, auth?: string) => rest.call(method, path, body, auth ? { authorization: auth } : {});
const createDevice = () => rest.createDevice('m');

async function connect(d: { deviceId: string; key: string }): Promise<MqttClient> {
  const password = createSasToken({ resourceUri: `localhost/devices/${d.deviceId}`, key: d.key, expiry: Math.floor(Date.now() / 1000) + 3600 });
  const client = await rawConnect({ clientId: d.deviceId, username: usernameOf(d, 'localhost'), password, port: gateway.mqttPort, clean: true });
  clients.push(client);
  return client;
}

/** The next publish on a topic starting with `prefix`. */
const next = (client: MqttClient, prefix: string) =>
  new Promise<{ topic: string; payload: Buffer }>((resolve) => {
    const on = (topic: string, payload: Buffer) => {
      if (!topic.startsWith(prefix)) return;
      client.off('message', on);
      resolve({ topic, payload });
    };
    client.on('message', on);
  });

/** Publish at QoS 1: 'acked', or 'closed' when the hub cut the connection instead (MQTT 3.1.1 has no negative PUBACK). */
const publishOrClosed = (client: MqttClient, topic: string, payload: Buffer) =>
  new Promise<'acked' | 'closed'>((resolve) => {
    const closed = () => resolve('closed');
    client.once('close', closed);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      client.off('close', closed);
      resolve(err ? 'closed' : 'acked');
    });
  });

const totalMessages = async () => {
  const res = await call('GET', '/settings/quotaMetrics');
  expect(res.status).toBe(200);
  const metrics = ((await res.json()) as { value: { name: string; currentValue: number; maxValue: number | null }[] }).value;
  return metrics;
};
const used = async () => (await totalMessages()).find((m) => m.name === 'TotalMessages')!.currentValue;

describe('daily quota metering', () => {
  it('counts each operation as IoT Hub bills it; identity operations and connections count nothing', async () => {
    const device = await createDevice();
    const offline = await createDevice();
    expect(await totalMessages()).toEqual([
      { name: 'TotalMessages', currentValue: 0, maxValue: 400_000 },
      { name: 'TotalDeviceCount', currentValue: 2, maxValue: 1_000_000 },
    ]);
    const client = await connect(device);
    await client.subscribeAsync({ '$iothub/twin/res/#': { qos: 0 }, '$iothub/methods/POST/#': { qos: 0 } });
    let expected = 0;

    // a 6 KB telemetry message: two 4 KB messages (checklist 279)
    await client.publishAsync(`devices/${device.deviceId}/messages/events/`, Buffer.alloc(6 * 1024, 1), { qos: 1 });
    expected += 2;

    // a reported patch of ~700 bytes: two 512-byte chunks
    const patch = JSON.stringify({ a: 'r'.repeat(350), b: 's'.repeat(340) });
    const reported = next(client, '$iothub/twin/res/');
    await client.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=1', patch);
    const r = await reported;
    expect(r.topic, r.payload.toString()).toMatch(/^\$iothub\/twin\/res\/204\//);
    expected += Math.ceil(Buffer.byteLength(patch) / 512);

    // a twin read by the device: its size in 512-byte chunks (checklist 280)
    const got = next(client, '$iothub/twin/res/');
    await client.publishAsync('$iothub/twin/GET/?$rid=2', '');
    const twinBytes = (await got).payload.length;
    expect(twinBytes).toBeGreaterThan(512);
    expected += Math.ceil(twinBytes / 512);

    // a 6 KB cloud-to-device message: two
    expect((await call('POST', `/devices/${device.deviceId}/messages/devicebound`, 'c'.repeat(6 * 1024))).status).toBe(200);
    expected += 2;

    // a method with a ~6 KB request and a 1 KB response: 2 + 1 (checklist 281)
    client.on('message', (topic) => {
      const rid = /^\$iothub\/methods\/POST\/[^/]+\/\?\$rid=(.+)$/.exec(topic)?.[1];
      if (rid) void client.publishAsync(`$iothub/methods/res/200/?$rid=${rid}`, JSON.stringify('a'.repeat(1000)));
    });
    const methodBody = JSON.stringify({ methodName: 'm', payload: 'p'.repeat(6000), responseTimeoutInSeconds: 10 });
    const invoked = await call('POST', `/twins/${device.deviceId}/methods`, methodBody);
    expect(invoked.status).toBe(200);
    expect(((await invoked.json()) as { payload: string }).payload).toHaveLength(1000);
    expected += Math.ceil(Buffer.byteLength(methodBody) / 4096) + 1;

    // a method to a device that is not connected still counts its request
    expect((await call('POST', `/twins/${offline.deviceId}/methods`, { methodName: 'm', payload: null, responseTimeoutInSeconds: 5 })).status).toBe(404);
    expected += 1;

    // a service twin read: its size in 512-byte chunks; a twin query by its result
    const twin = await call('GET', `/twins/${device.deviceId}`);
    expected += Math.ceil((await twin.text()).length / 512);
    const query = await call('POST', '/devices/query', { query: `SELECT * FROM devices WHERE deviceId = '${device.deviceId}'` });
    expect(query.status).toBe(200);
    expected += Math.ceil((await query.text()).length / 512);

    // identity operations are not metered (checklist 282)
    expect((await call('GET', `/devices/${device.deviceId}`)).status).toBe(200);

    await poll(used, (n) => n === expected, 10_000, `${expected} metered messages`);
    await new Promise((r) => setTimeout(r, 300));
    expect(await used()).toBe(expected);

    // the same operations in Azure Monitor's metrics, by hub (protocols-ops §7.1)
    const metric = async (name: string) => Number(new RegExp(`^${name}\\{hub="${hub}"\\} (\\S+)$`, 'm').exec(await gateway.metrics())?.[1] ?? NaN);
    expect(await metric('iothub_d2c_telemetry_ingress_allProtocol_total')).toBe(1);
    expect(await metric('iothub_d2c_telemetry_ingress_success_total')).toBe(1);
    expect(await metric('iothub_connectedDeviceCount')).toBe(1);
    expect(await metric('iothub_d2c_twin_update_success_total')).toBe(1);
    expect(await metric('iothub_d2c_twin_read_success_total')).toBe(1);
    expect(await metric('iothub_c2d_methods_success_total')).toBe(1);
    expect(await metric('iothub_c2d_methods_failure_total')).toBe(1); // the offline device
    expect(await metric('iothub_c2d_twin_read_success_total')).toBe(1);
    expect(await metric('iothub_twinQueries_success_total')).toBe(1);
    expect(await metric('iothub_dailyMessageQuotaUsed')).toBe(expected);
    client.end(true);
    await poll(() => metric('iothub_connectedDeviceCount'), (n) => n === 0, 5000, 'the device counted as disconnected');
  });

  it('requests without valid credentials spend none of the hub\'s throttle budget', async () => {
    const forged = token.replace(/sig=[^&]+/, 'sig=AAAA');
    for (let i = 0; i < 130; i += 1) expect((await call('GET', `/devices/${uniqueName('x')}`, undefined, forged)).status).toBe(401);
    // S1 identity operations: 100 a minute; the forged ones took none of them
    expect((await call('GET', `/devices/${uniqueName('x')}`)).status).toBe(404);
  });

  it('once the day\'s quota is used up, metered operations get 403 IotHubQuotaExceeded; identity operations go on', async () => {
    // F1: 8,000 messages of 0.5 KB a day; fill it with 256 KB telemetry (512 each)
    expect((await call('PUT', '/settings/sku', { name: 'F1', capacity: 1 })).status).toBe(200);
    const device = await createDevice();
    const client = await connect(device);
    await client.subscribeAsync({ '$iothub/twin/res/#': { qos: 0 } });
    const big = Buffer.alloc(256 * 1024, 2);
    let refused = false;
    for (let i = 0; i < 20 && !refused; i += 1) refused = (await publishOrClosed(client, `devices/${device.deviceId}/messages/events/`, big)) === 'closed';
    expect(refused).toBe(true);
    // fill what is left with small ones until the quota says no more
    const spare = Math.max(0, 8000 - (await used()));
    const dev2 = await createDevice();
    const small = await connect(dev2);
    for (let i = 0; i < spare; i += 1) await small.publishAsync(`devices/${dev2.deviceId}/messages/events/`, 'x', { qos: 1 });
    expect(await used()).toBe(8000);

    const quotaError = async (res: Response) => {
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ Message: expect.stringMatching(/^ErrorCode:IotHubQuotaExceeded;/) });
    };
    await quotaError(await call('POST', `/devices/${dev2.deviceId}/messages/devicebound`, 'c'));
    await quotaError(await call('GET', `/twins/${dev2.deviceId}`));
    await quotaError(await call('POST', `/twins/${dev2.deviceId}/methods`, { methodName: 'm', payload: null, responseTimeoutInSeconds: 5 }));
    const twinAnswer = next(small, '$iothub/twin/res/');
    await small.subscribeAsync({ '$iothub/twin/res/#': { qos: 0 } });
    await small.publishAsync('$iothub/twin/GET/?$rid=9', '');
    expect((await twinAnswer).topic).toMatch(/^\$iothub\/twin\/res\/403\//);
    expect((await call('GET', `/devices/${dev2.deviceId}`)).status).toBe(200);
    expect(await used()).toBe(8000);
  });
});
