import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { Client as DeviceClient, Message, ModuleClient } from 'azure-iot-device';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { Http } from 'azure-iot-device-http';
import { Amqp, AmqpWs } from 'azure-iot-device-amqp';
import { c2dReceiver, FeedbackReader, sendC2D, sendC2DOk } from './c2d.js';
import { collectTelemetry, createDevice, createModule, identityToken, rawConnect, usernameOf } from './devices.js';
import { startExtraGateway, type ExtraGateway } from './gateways.js';
import { hub, hubFetch, ownerToken, policyConnectionString, poll } from './helpers.js';

type Received = InstanceType<typeof Message>;
const feedback = new FeedbackReader();
let telemetry: Awaited<ReturnType<typeof collectTelemetry>>;

beforeAll(async () => {
  telemetry = await collectTelemetry();
});
afterAll(async () => {
  await telemetry?.stop();
});

const receiver = c2dReceiver;

const appProp = (m: Received, name: string) => m.properties.getValue(name) as string | undefined;
const queueDepth = async (deviceId: string) => ((await (await hubFetch(`/devices/${deviceId}`)).json()) as { cloudToDeviceMessageCount: number }).cloudToDeviceMessageCount;

describe.each([
  ['Mqtt', Mqtt, ''],
  ['MqttWs', MqttWs, ''],
  ['Http', Http, 'iothub-app-'],
  ['Amqp', Amqp, ''],
  ['AmqpWs', AmqpWs, ''],
] as const)('C2D to a device on %s', (name, Transport, appPrefix) => {
  it('delivers body and properties; completing it gives Success feedback (checklist 111, 127, 130, 131)', async () => {
    const d = await createDevice(`c2d${name}`);
    const r = await receiver(d, Transport, (c, m) => c.complete(m));
    const mid = `m-${name}-${Date.now()}`;
    await sendC2DOk(d.deviceId, '{"cmd":"on"}', {
      'iothub-messageid': mid,
      'iothub-correlationid': 'corr/1',
      'iothub-ack': 'full',
      'iothub-app-color': 'blue/green&x=y',
      'iothub-app-level': 'high',
    });
    await r.waitFor(1);
    const m = r.got[0]!;
    expect(m.data.toString()).toBe('{"cmd":"on"}');
    expect(m.messageId).toBe(mid);
    expect(m.correlationId).toBe('corr/1');
    expect(m.to).toBe(`/devices/${d.deviceId}/messages/devicebound`);
    expect(appProp(m, `${appPrefix}color`)).toBe('blue/green&x=y');
    expect(appProp(m, `${appPrefix}level`)).toBe('high');
    const [record] = await feedback.about(mid);
    expect(record).toMatchObject({ originalMessageId: mid, description: 'Success', statusCode: 'Success', deviceId: d.deviceId });
    expect(record!.deviceGenerationId).toMatch(/\S/);
    expect(feedback.contentTypes).toEqual(new Set(['application/vnd.microsoft.iothub.feedback.json']));
    expect(feedback.userIds).toEqual(new Set([hub().hub]));
    await poll(() => queueDepth(d.deviceId), (n) => n === 0, 5000, 'an empty queue');
    await r.client.close();
  });

  it('delivers messages queued while the device was offline once it connects', async () => {
    const d = await createDevice(`off${name}`);
    for (const i of [1, 2, 3]) await sendC2DOk(d.deviceId, `queued ${i}`);
    expect(await queueDepth(d.deviceId)).toBe(3);
    const r = await receiver(d, Transport, (c, m) => c.complete(m));
    await r.waitFor(3);
    expect(r.got.map((m) => m.data.toString())).toEqual(['queued 1', 'queued 2', 'queued 3']);
    await r.client.close();
  });
});

describe.each([
  ['Http', Http],
  ['Amqp', Amqp],
  ['AmqpWs', AmqpWs],
] as const)('C2D settlement over %s (checklist 115–117, 128)', (_name, Transport) => {
  it('reject dead-letters with Rejected feedback; abandon puts the message back', async () => {
    const d = await createDevice('settle');
    const rejectId = `rej-${Date.now()}`;
    const abandonId = `abn-${Date.now()}`;
    await sendC2DOk(d.deviceId, 'reject me', { 'iothub-messageid': rejectId, 'iothub-ack': 'negative' });
    await sendC2DOk(d.deviceId, 'abandon me', { 'iothub-messageid': abandonId, 'iothub-ack': 'full' });
    let abandoned = 0;
    const r = await receiver(d, Transport, async (c, m) => {
      if (m.messageId === rejectId) return c.reject(m);
      if (m.messageId === abandonId && abandoned++ === 0) return c.abandon(m);
      return c.complete(m);
    });
    await r.waitFor(3);
    expect(r.got.map((m) => m.messageId)).toEqual([rejectId, abandonId, abandonId]);
    expect((await feedback.about(rejectId))[0]).toMatchObject({ description: 'Rejected' });
    expect((await feedback.about(abandonId))[0]).toMatchObject({ description: 'Success' });
    await r.client.close();
  });
});

describe('C2D locks over HTTP (checklist 114)', () => {
  it('locks a received message: a second receive gets nothing until it is settled; a lock token is single-use', async () => {
    const d = await createDevice('lock');
    await sendC2DOk(d.deviceId, 'one');
    await sendC2DOk(d.deviceId, 'two');
    const token = identityToken(d);
    const get = () => hubFetch(`/devices/${d.deviceId}/messages/devicebound`, { token });
    const first = await get();
    expect(first.status).toBe(200);
    expect(await first.text()).toBe('one');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f-]{36}"$/);
    expect(first.headers.get('iothub-deliverycount')).toBe('1');
    expect(Number(first.headers.get('iothub-sequencenumber'))).toBeGreaterThan(0);
    expect(new Date(first.headers.get('iothub-enqueuedtime')!).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect((await get()).status).toBe(204);
    const lock = etag.slice(1, -1);
    expect((await hubFetch(`/devices/${d.deviceId}/messages/devicebound/${lock}`, { method: 'DELETE', token, headers: { 'if-match': lock } })).status).toBe(204);
    const again = await hubFetch(`/devices/${d.deviceId}/messages/devicebound/${lock}`, { method: 'DELETE', token });
    expect(again.status).toBe(412);
    expect(((await again.json()) as { Message: string }).Message).toMatch(/^ErrorCode:DeviceMessageLockLost;/);
    const second = await get();
    expect(await second.text()).toBe('two');
    const bogus = await hubFetch(`/devices/${d.deviceId}/messages/devicebound/not-a-lock`, { method: 'DELETE', token });
    expect(bogus.status).toBe(400);
  });

  it('MQTT devices cannot reject or abandon (123)', async () => {
    const d = await createDevice('mqttrej');
    const r = await receiver(d, Mqtt);
    await sendC2DOk(d.deviceId, 'x');
    await r.waitFor(1);
    await expect(r.client.reject(r.got[0]!)).rejects.toThrow();
    await expect(r.client.abandon(r.got[0]!)).rejects.toThrow();
    await r.client.close();
  });
});

describe('C2D limits and expiry', () => {
  it('refuses the 51st pending message, then accepts one once a message completes (112)', async () => {
    const d = await createDevice('full');
    for (let i = 0; i < 50; i++) await sendC2DOk(d.deviceId, `m${i}`);
    const refused = await sendC2D(d.deviceId, 'one too many');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { Message: string }).Message).toMatch(/^ErrorCode:DeviceMaximumQueueDepthExceeded;/);
    const token = identityToken(d);
    const got = await hubFetch(`/devices/${d.deviceId}/messages/devicebound`, { token });
    const lock = got.headers.get('etag')!.slice(1, -1);
    expect((await hubFetch(`/devices/${d.deviceId}/messages/devicebound/${lock}`, { method: 'DELETE', token })).status).toBe(204);
    await sendC2DOk(d.deviceId, 'now there is room');
  });

  it('refuses a message over 64 KB with 413 MessageTooLarge (113), an unknown device with 404', async () => {
    const d = await createDevice('big');
    const big = await sendC2D(d.deviceId, Buffer.alloc(64 * 1024 + 1, 'a'));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { Message: string }).Message).toMatch(/^ErrorCode:MessageTooLarge;/);
    const none = await sendC2D('no-such-device', 'x');
    expect(none.status).toBe(404);
    expect(((await none.json()) as { Message: string }).Message).toMatch(/^ErrorCode:DeviceNotFound;/);
    await sendC2DOk(d.deviceId, Buffer.alloc(60 * 1024, 'a'));
  });

  it('never delivers an expired message and reports Expired (122)', async () => {
    const d = await createDevice('ttl');
    const mid = `ttl-${Date.now()}`;
    await sendC2DOk(d.deviceId, 'too late', { 'iothub-messageid': mid, 'iothub-ack': 'negative', 'iothub-expiry': new Date(Date.now() + 500).toISOString() });
    expect((await feedback.about(mid))[0]).toMatchObject({ description: 'Expired', deviceId: d.deviceId });
    const r = await receiver(d, Mqtt);
    await sendC2DOk(d.deviceId, 'fresh');
    await r.waitFor(1);
    expect(r.got.map((m) => m.data.toString())).toEqual(['fresh']);
    await r.client.close();
  });

  it('dead-letters after maxDeliveryCount deliveries with DeliveryCountExceeded (119) and validates the setting (120)', async () => {
    const before = await (await hubFetch('/settings/cloudToDevice')).json();
    expect(before).toMatchObject({ maxDeliveryCount: 10, defaultTtlAsIso8601: 'PT1H' });
    const bad = await hubFetch('/settings/cloudToDevice', { method: 'PATCH', body: '{"maxDeliveryCount":101}' });
    expect(bad.status).toBe(400);
    expect((await hubFetch('/settings/cloudToDevice', { method: 'PATCH', body: '{"maxDeliveryCount":2}' })).status).toBe(200);
    try {
      const d = await createDevice('bounce');
      const mid = `bounce-${Date.now()}`;
      await sendC2DOk(d.deviceId, 'x', { 'iothub-messageid': mid, 'iothub-ack': 'full' });
      const r = await receiver(d, Http, (c, m) => c.abandon(m));
      expect((await feedback.about(mid))[0]).toMatchObject({ description: 'DeliveryCountExceeded' });
      expect(r.got.length).toBe(2);
      await r.client.close();
    } finally {
      await hubFetch('/settings/cloudToDevice', { method: 'PATCH', body: '{"maxDeliveryCount":10}' });
    }
  });

  it('purges a queue: DELETE /devices/{id}/commands, with Purged feedback', async () => {
    const d = await createDevice('purge');
    const mid = `purge-${Date.now()}`;
    await sendC2DOk(d.deviceId, 'a', { 'iothub-messageid': mid, 'iothub-ack': 'full' });
    await sendC2DOk(d.deviceId, 'b');
    const res = await hubFetch(`/devices/${d.deviceId}/commands`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ totalMessagesPurged: 2, deviceId: d.deviceId, moduleId: null });
    expect((await feedback.about(mid))[0]).toMatchObject({ description: 'Purged' });
    expect(await queueDepth(d.deviceId)).toBe(0);
  });
});

describe('C2D over raw MQTT', () => {
  it('publishes on devices/{id}/messages/devicebound/{bag} at QoS 1, with a trailing / when there are no properties', async () => {
    const d = await createDevice('raw');
    const client = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d) });
    const topics: string[] = [];
    const qos: number[] = [];
    client.on('message', (topic, _payload, packet) => {
      topics.push(topic);
      qos.push(packet.qos);
    });
    await client.subscribeAsync(`devices/${d.deviceId}/messages/devicebound/#`, { qos: 1 });
    await sendC2DOk(d.deviceId, 'plain', { 'iothub-messageid': 'mid 1' });
    await sendC2DOk(d.deviceId, 'props', { 'iothub-messageid': 'mid2', 'iothub-app-a&b': 'c=d/e', 'iothub-contenttype': 'application/json', 'iothub-ack': 'full' });
    await poll(async () => topics.length, (n) => n >= 2);
    const prefix = `devices/${d.deviceId}/messages/devicebound/`;
    expect(topics[0]!.startsWith(prefix)).toBe(true);
    const bag1 = new URLSearchParams(topics[0]!.slice(prefix.length).replace(/\+/g, '%2B'));
    expect(bag1.get('$.mid')).toBe('mid 1');
    expect(bag1.get('$.to')).toBe(`/devices/${d.deviceId}/messages/devicebound`);
    expect(bag1.has('iothub-ack')).toBe(false);
    expect(topics[1]).toContain('a%26b=c%3Dd%2Fe');
    expect(topics[1]).toContain('%24.ct=application%2Fjson');
    expect(topics[1]).toContain('iothub-ack=full');
    expect(topics[1]).not.toContain('enqueued');
    expect(qos).toEqual([1, 1]);
    await client.endAsync();
  });

  it('gives nothing to a device that has not subscribed (48), delivers once it does', async () => {
    const d = await createDevice('nosub');
    const client = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d) });
    const topics: string[] = [];
    client.on('message', (topic) => topics.push(topic));
    await sendC2DOk(d.deviceId, 'wait for it');
    await new Promise((r) => setTimeout(r, 500));
    expect(topics).toEqual([]);
    await client.subscribeAsync(`devices/${d.deviceId}/messages/devicebound/#`, { qos: 1 });
    await poll(async () => topics.length, (n) => n === 1);
    await client.endAsync();
  });

  it('delivers module input messages to devices/{d}/modules/{m}/inputs/{input}/ (ModuleClient inputMessage)', async () => {
    const d = await createDevice('modin');
    const m = await createModule(d.deviceId, 'filter');
    const mc = ModuleClient.fromConnectionString(m.connectionString, Mqtt);
    const got: Array<[string, string]> = [];
    mc.on('inputMessage', (input: string, msg: Received) => {
      got.push([input, msg.data.toString()]);
      void mc.complete(msg);
    });
    await mc.open();
    const path = `/devices/${d.deviceId}/modules/filter/messages/devicebound`;
    expect((await sendC2D(d.deviceId, 'no input', {}, path)).status).toBe(400);
    expect((await sendC2D(d.deviceId, 'to input1', { 'iothub-inputname': 'input1' }, path)).status).toBe(200);
    await poll(async () => got.length, (n) => n === 1);
    expect(got).toEqual([['input1', 'to input1']]);
    await mc.close();
  });
});

describe('HTTP device transport: telemetry', () => {
  it('sendEvent and sendEventBatch reach the D2C stream with their properties', async () => {
    const d = await createDevice('httpd2c');
    const client = DeviceClient.fromConnectionString(d.connectionString, Http);
    await client.open();
    const one = new Message('single');
    one.messageId = `h-${Date.now()}`;
    one.correlationId = 'c-1';
    one.contentType = 'application/json';
    one.contentEncoding = 'utf-8';
    one.properties.add('tempAlert', 'yes');
    await client.sendEvent(one);
    const b1 = new Message('batch 1');
    b1.properties.add('k', 'v');
    await client.sendEventBatch([b1, new Message('batch 2')]);
    const got = await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === d.deviceId && Buffer.from(m.body).toString() === 'single');
    expect(got.systemProperties).toMatchObject({ 'message-id': one.messageId, 'correlation-id': 'c-1', 'content-type': 'application/json', 'content-encoding': 'utf-8' });
    expect(got.applicationProperties).toEqual({ tempAlert: 'yes' });
    const batch1 = await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === d.deviceId && Buffer.from(m.body).toString() === 'batch 1');
    expect(batch1.applicationProperties).toEqual({ k: 'v' });
    await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === d.deviceId && Buffer.from(m.body).toString() === 'batch 2');
    await client.close();
  });

  it('answers bad batches and bad tokens in the IoT Hub error format', async () => {
    const d = await createDevice('httpbad');
    const path = `/devices/${d.deviceId}/messages/events`;
    const bad = await hubFetch(path, { method: 'POST', token: identityToken(d), body: '[{"nobody":1}]', headers: { 'content-type': 'application/vnd.microsoft.iothub.json' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { Message: string }).Message).toMatch(/^ErrorCode:ArgumentInvalid;/);
    const other = await createDevice('httpother');
    const wrong = await hubFetch(path, { method: 'POST', token: identityToken(other), body: 'x' });
    expect(wrong.status).toBe(401);
    // a policy token works for a device only with DeviceConnect: iothubowner has it, service does not
    expect((await hubFetch(path, { method: 'POST', body: 'as owner' })).status).toBe(204);
    const serviceKey = /SharedAccessKey=([^;]+)/.exec(await policyConnectionString('service'))![1]!;
    expect((await hubFetch(path, { method: 'POST', body: 'x', token: ownerToken({ keyName: 'service', key: serviceKey }) })).status).toBe(401);
  });
});

describe('C2D across gateway processes', () => {
  let extra: ExtraGateway | undefined;
  afterAll(async () => {
    await extra?.stop('SIGKILL');
  });

  it('a gateway killed mid-delivery loses nothing: the message comes again after the lock expires, once', async () => {
    extra = await startExtraGateway();
    const d = await createDevice('crash');
    // a raw device on the extra gateway that takes the PUBLISH but never PUBACKs it
    const socket = tlsConnect({ host: '127.0.0.1', port: extra.mqttPort, servername: 'localhost', ca: readFileSync(hub().caCertPath) });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const packets: Packet[] = [];
    parser.on('packet', (p: Packet) => packets.push(p));
    socket.on('data', (b: Buffer) => parser.parse(b));
    socket.on('error', () => undefined);
    const write = (p: Packet) => socket.write(mqttPacket.generate(p, { protocolVersion: 4 }));
    await new Promise((r) => socket.once('secureConnect', r));
    write({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: d.deviceId, keepalive: 60, username: usernameOf(d), password: Buffer.from(identityToken(d)) });
    write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `devices/${d.deviceId}/messages/devicebound/#`, qos: 1 }] });
    await poll(async () => packets.some((p) => p.cmd === 'suback'), (ok) => ok);
    const mid = `crash-${Date.now()}`;
    await sendC2DOk(d.deviceId, 'survive', { 'iothub-messageid': mid, 'iothub-ack': 'positive' });
    await poll(async () => packets.filter((p) => p.cmd === 'publish').length, (n) => n === 1);
    expect((packets.find((p) => p.cmd === 'publish') as IPublishPacket).topic).toContain(encodeURIComponent(mid));
    await extra.stop('SIGKILL');
    socket.destroy();

    const r = await receiver(d, Mqtt);
    const t0 = Date.now();
    await r.waitFor(1, 20_000);
    // the lock (3 s in this test hub) had to expire first
    expect(Date.now() - t0).toBeGreaterThan(500);
    expect(r.got[0]!.messageId).toBe(mid);
    expect((await feedback.about(mid))[0]).toMatchObject({ description: 'Success' });
    await new Promise((res) => setTimeout(res, 1000));
    expect(r.got.length).toBe(1);
    await r.client.close();
  });
});
