import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import rhea, { type Connection, type EventContext, type Message } from 'rhea';
import { createSasToken } from '@openiothub/auth';
import { uniqueName } from '@openiothub/testing';
import { ownHub, restOn, startExtraGateway, type ExtraGateway } from './gateways.js';
import { hub } from './helpers.js';
import { rawConnect, usernameOf } from './devices.js';

// Basic tier (protocols-ops §0.1; devguide checklist 8, 12): a B1 hub has telemetry, identities,
// queries, file upload and routing; C2D, twins, methods, jobs, configurations and device streams
// are refused — 403 IotHubNotSupported over REST, SUBACK 0x80 over MQTT, amqp:not-allowed on
// AMQP links — until the hub moves to a standard tier, which takes effect at once.

const hubName = uniqueName('basic');
let gateway: ExtraGateway;
let token = '';

beforeAll(async () => {
  token = (await ownHub(hubName, 'B1')).token;
  gateway = await startExtraGateway({ hub: hubName });
});
afterAll(async () => {
  await gateway?.stop();
});

const rest = restOn(() => gateway, () => token);
const call = (method: string, path: string, body?: unknown) => rest.call(method, path, body, method === 'PATCH' ? { 'if-match': '*' } : {});
const createDevice = () => rest.createDevice('b');

/** A raw AMQP connection with the owner's token on $cbs; resolves the condition a link to `address` is closed with, or 'open'. */
async function amqpLink(address: string, sender: boolean): Promise<string> {
  const conn: Connection = rhea.create_container().connect({ host: 'localhost', hostname: 'localhost', port: gateway.amqpPort, transport: 'tls', ca: readFileSync(hub().caCertPath), servername: 'localhost', reconnect: false } as never);
  await new Promise((r) => conn.once('connection_open', r));
  const reply = conn.open_receiver({ source: { address: '$cbs' } });
  const cbs = conn.open_sender({ target: { address: '$cbs' } });
  await new Promise((r) => cbs.once('sendable', r));
  const answered = new Promise<Message>((r) => reply.once('message', (ctx: EventContext) => r(ctx.message!)));
  cbs.send({ body: token, to: '$cbs', reply_to: 'cbs', message_id: rhea.generate_uuid(), application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: 'localhost' } });
  expect(Number(((await answered).application_properties as Record<string, unknown>)['status-code'])).toBe(200);
  const outcome = await new Promise<string>((resolve) => {
    const link = sender ? conn.open_sender({ target: { address } }) : conn.open_receiver({ source: { address } });
    link.once(sender ? 'sender_close' : 'receiver_close', (ctx: EventContext) => resolve(String(((sender ? ctx.sender : ctx.receiver) as unknown as { error?: { condition?: string } }).error?.condition ?? 'closed')));
    setTimeout(() => resolve('open'), 1000);
  });
  conn.close();
  return outcome;
}

describe('a Basic-tier hub', () => {
  it('refuses the standard-tier REST APIs with 403 IotHubNotSupported and serves the rest', async () => {
    const d = await createDevice();
    const refused = [
      await call('POST', `/devices/${d.deviceId}/messages/devicebound`, 'c2d'),
      await call('GET', `/twins/${d.deviceId}`),
      await call('PATCH', `/twins/${d.deviceId}`, { properties: { desired: { a: 1 } } }),
      await call('POST', `/twins/${d.deviceId}/methods`, { methodName: 'm', payload: null, responseTimeoutInSeconds: 5 }),
      await call('PUT', `/jobs/v2/${uniqueName('job')}`, { jobId: 'x', type: 'scheduleUpdateTwin', queryCondition: "deviceId = 'x'", updateTwin: { tags: { a: 1 } } }),
      await call('GET', '/configurations'),
      await call('POST', `/twins/${d.deviceId}/streams/s1`, { responseTimeoutInSeconds: 5 }),
    ];
    for (const res of refused) {
      expect(res.status, res.url).toBe(403);
      expect(await res.json()).toMatchObject({ Message: expect.stringMatching(/^ErrorCode:IotHubNotSupported;.*basic tier/) });
    }
    // identities, queries and statistics are Basic-tier features
    expect((await call('GET', `/devices/${d.deviceId}`)).status).toBe(200);
    expect((await call('POST', '/devices/query', { query: 'SELECT * FROM devices' })).status).toBe(200);
    expect((await call('GET', '/statistics/devices')).status).toBe(200);
  });

  it('over MQTT: telemetry flows; C2D, twin and method subscriptions get SUBACK 0x80', async () => {
    const d = await createDevice();
    const client = await rawConnect({
      clientId: d.deviceId,
      username: usernameOf(d, 'localhost'),
      password: createSasToken({ resourceUri: `localhost/devices/${d.deviceId}`, key: d.key, expiry: Math.floor(Date.now() / 1000) + 3600 }),
      port: gateway.mqttPort,
      clean: true,
    });
    await client.publishAsync(`devices/${d.deviceId}/messages/events/`, 'basic telemetry', { qos: 1 });
    // mqtt.js rejects when any filter failed; the SUBACK it received is on the error
    const err = (await client.subscribeAsync({ [`devices/${d.deviceId}/messages/devicebound/#`]: { qos: 1 }, '$iothub/twin/res/#': { qos: 0 }, '$iothub/methods/POST/#': { qos: 0 } }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { packet?: { granted: number[] } } | undefined;
    expect(err?.packet?.granted).toEqual([128, 128, 128]);
    await client.endAsync();
  });

  it('over AMQP: C2D send and feedback links are closed with amqp:not-allowed', async () => {
    expect(await amqpLink('/messages/devicebound', true)).toBe('amqp:not-allowed');
    expect(await amqpLink('/messages/serviceBound/feedback', false)).toBe('amqp:not-allowed');
  });

  it('moving to a standard tier opens the features at once', async () => {
    expect((await call('PUT', '/settings/sku', { name: 'S1', capacity: 1 })).status).toBe(200);
    const d = await createDevice();
    expect((await call('POST', `/devices/${d.deviceId}/messages/devicebound`, 'now allowed')).status).toBe(200);
    expect((await call('GET', `/twins/${d.deviceId}`)).status).toBe(200);
    expect(await amqpLink('/messages/devicebound', true)).toBe('open');
  });
});
