import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import mqttPacket from 'mqtt-packet';
import { Registry } from 'azure-iothub';
import { uniqueName } from '@openiothub/testing';
import { closedByServer, collectTelemetry, createDevice, createModule, identityToken, rawConnect, usernameOf } from './devices.js';
import { hub, ownerConnectionString, policyConnectionString } from './helpers.js';
import { parseConnectionString, createSasToken } from '@openiothub/auth';

let telemetry: Awaited<ReturnType<typeof collectTelemetry>>;
beforeAll(async () => {
  telemetry = await collectTelemetry();
});
afterAll(async () => {
  await telemetry.stop();
});

const connectAs = (d: { deviceId: string; moduleId?: string; key: string }, extra: Parameters<typeof rawConnect>[0] extends infer T ? Partial<T> : never = {}) =>
  rawConnect({ clientId: d.moduleId ? `${d.deviceId}/${d.moduleId}` : d.deviceId, username: usernameOf(d), password: identityToken(d), ...extra });

describe('CONNECT is refused the IoT Hub way (CONNACK code, then close)', () => {
  it('wrong key, expired token, another device token, unknown and disabled devices → 5', async () => {
    const d = await createDevice('neg');
    const other = await createDevice('neg');
    const disabled = await createDevice('neg', { status: 'disabled' });
    const wrongKey = { ...d, key: Buffer.alloc(32, 1).toString('base64') };
    await expect(connectAs(wrongKey)).rejects.toMatchObject({ code: 5 });
    await expect(connectAs(d, { password: identityToken(d, -5) })).rejects.toMatchObject({ code: 5 });
    await expect(connectAs(d, { password: identityToken(other) })).rejects.toMatchObject({ code: 5 });
    await expect(connectAs(disabled)).rejects.toMatchObject({ code: 5 });
    const ghost = { deviceId: uniqueName('ghost'), key: d.key };
    await expect(connectAs(ghost)).rejects.toMatchObject({ code: 5 });
  });

  it('ClientId and username must name the same identity; password must be a SAS token', async () => {
    const d = await createDevice('neg');
    await expect(connectAs(d, { clientId: uniqueName('other') })).rejects.toMatchObject({ code: 5 });
    await expect(connectAs(d, { password: 'not a token' })).rejects.toMatchObject({ code: 5 });
    await expect(connectAs(d, { password: '' })).rejects.toMatchObject({ code: 4 });
    await expect(connectAs(d, { username: 'garbage' })).rejects.toMatchObject({ code: 4 });
    await expect(connectAs(d, { clientId: 'a/b/c' })).rejects.toMatchObject({ code: 2 });
  });

  it('accepts a device-policy token scoped to the device, and the username without api-version', async () => {
    const d = await createDevice('pol');
    const cs = parseConnectionString(await policyConnectionString('device'));
    const token = createSasToken({ resourceUri: `${hub().hostName}/devices/${d.deviceId}`, key: cs['SharedAccessKey']!, keyName: 'device', expiry: Math.floor(Date.now() / 1000) + 600 });
    const c = await rawConnect({ clientId: d.deviceId, username: `${hub().hostName}/${d.deviceId}`, password: token });
    await c.endAsync();
    // a registryRead policy token is not DeviceConnect
    const rr = parseConnectionString(await policyConnectionString('registryRead'));
    const bad = createSasToken({ resourceUri: `${hub().hostName}/devices/${d.deviceId}`, key: rr['SharedAccessKey']!, keyName: 'registryRead', expiry: Math.floor(Date.now() / 1000) + 600 });
    await expect(rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: bad })).rejects.toMatchObject({ code: 5 });
  });

  it('refuses MQTT 5 and a will on another topic', async () => {
    const d = await createDevice('neg');
    await expect(connectAs(d, { protocolVersion: 5 })).rejects.toBeDefined();
    await expect(connectAs(d, { will: { topic: 'devices/someone-else/messages/events/', payload: Buffer.from('x'), qos: 1, retain: false } })).rejects.toMatchObject({ code: 5 });
  });
});

describe('a connected device that breaks the rules is disconnected', () => {
  it.each([
    ['QoS 2', (id: string) => ({ topic: `devices/${id}/messages/events/`, payload: 'x', qos: 2 as const })],
    ['another device topic', (_id: string) => ({ topic: 'devices/not-me/messages/events/', payload: 'x', qos: 1 as const })],
    ['a topic IoT Hub does not have', (_id: string) => ({ topic: 'random/topic', payload: 'x', qos: 0 as const })],
    ['a malformed property bag', (id: string) => ({ topic: `devices/${id}/messages/events/a=%E0%A4%A`, payload: 'x', qos: 1 as const })],
    ['an oversized message', (id: string) => ({ topic: `devices/${id}/messages/events/`, payload: Buffer.alloc(256 * 1024 + 1, 'a'), qos: 1 as const })],
  ])('%s', async (_what, make) => {
    const d = await createDevice('rule');
    const client = await connectAs(d);
    const { topic, payload, qos } = make(d.deviceId);
    client.publish(topic, payload, { qos }, () => undefined);
    await closedByServer(client);
    client.end(true);
    // the device can connect again afterwards: nothing stuck
    const again = await connectAs(d);
    await again.endAsync();
  });

  it('a device disabled while connected is disconnected at once', async () => {
    const d = await createDevice('dis');
    const client = await connectAs(d);
    const registry = Registry.fromConnectionString(ownerConnectionString());
    await registry.update({ deviceId: d.deviceId, status: 'disabled' });
    await closedByServer(client);
    client.end(true);
    await expect(connectAs(d)).rejects.toMatchObject({ code: 5 });
  });

  it('garbage bytes on 8883 are dropped and the gateway stays up', async () => {
    await new Promise<void>((resolve) => {
      const s = tlsConnect({ host: 'localhost', port: hub().ports.mqtt, ca: readFileSync(hub().caCertPath) }, () => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3])));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.resume();
    });
    const d = await createDevice('alive');
    const c = await connectAs(d);
    await c.publishAsync(`devices/${d.deviceId}/messages/events/`, 'still here', { qos: 1 });
    await c.endAsync();
  });

  it('the connection is closed when its SAS token expires (devguide §10.5)', async () => {
    const d = await createDevice('exp');
    const t0 = Date.now();
    const client = await connectAs(d, { password: identityToken(d, 2) });
    await closedByServer(client, 10_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    client.end(true);
  });

  it('a client that stops sending is dropped after 1.5 × its keep-alive', async () => {
    const d = await createDevice('ka');
    const closed = await new Promise<number>((resolve, reject) => {
      const start = Date.now();
      const s = tlsConnect({ host: 'localhost', servername: 'localhost', port: hub().ports.mqtt, ca: readFileSync(hub().caCertPath) }, () => {
        s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: d.deviceId, keepalive: 1, username: usernameOf(d), password: Buffer.from(identityToken(d)) }));
      });
      s.on('close', () => resolve(Date.now() - start));
      s.on('error', reject);
      s.resume();
      setTimeout(() => reject(new Error('not closed')), 15_000).unref();
    });
    // never sooner than the keep-alive itself
    expect(closed).toBeGreaterThanOrEqual(1000);
  });
});

describe('topic grammar, end to end', () => {
  it('grants IoT Hub filters (QoS ≤ 1) and refuses everything else with 0x80', async () => {
    const d = await createDevice('sub');
    const c = await connectAs(d);
    const filters: Array<[string, 0 | 1 | 2]> = [
      [`devices/${d.deviceId}/messages/devicebound/#`, 1],
      ['$iothub/methods/POST/#', 0],
      ['$iothub/twin/res/#', 2],
      ['$iothub/twin/PATCH/properties/desired/#', 0],
      ['devices/someone-else/messages/devicebound/#', 1],
      ['#', 0],
      [`devices/${d.deviceId}/modules/m/inputs/#`, 1],
    ];
    // mqtt.js rejects when any filter failed; the SUBACK it received is on the error
    const err = (await c.subscribeAsync(Object.fromEntries(filters.map(([topic, qos]) => [topic, { qos }]))).then(
      () => undefined,
      (e: unknown) => e,
    )) as { packet?: { granted: number[] } } | undefined;
    expect(err?.packet?.granted).toEqual([1, 0, 1, 0, 128, 128, 128]);
    await c.endAsync();
  });

  it('accepts telemetry with and without a bag, QoS 0 and 1, and marks retained messages', async () => {
    const d = await createDevice('pub');
    const c = await connectAs(d);
    await c.publishAsync(`devices/${d.deviceId}/messages/events/`, 'plain', { qos: 1 });
    await c.publishAsync(`devices/${d.deviceId}/messages/events`, 'no slash', { qos: 1 });
    await c.publishAsync(`devices/${d.deviceId}/messages/events/%24.mid=m1&a%2Bb=c+d`, 'bag', { qos: 1 });
    await c.publishAsync(`devices/${d.deviceId}/messages/events/`, 'retained', { qos: 1, retain: true });
    await c.publishAsync(`devices/${d.deviceId}/messages/events/`, 'qos0', { qos: 0 });
    const body = (text: string) => (m: { body: Uint8Array; systemProperties: Record<string, string> }) =>
      m.systemProperties['iothub-connection-device-id'] === d.deviceId && Buffer.from(m.body).toString() === text;
    await telemetry.waitFor(body('plain'));
    await telemetry.waitFor(body('no slash'));
    const bag = await telemetry.waitFor(body('bag'));
    expect(bag.systemProperties['message-id']).toBe('m1');
    expect(bag.applicationProperties).toEqual({ 'a+b': 'c+d' });
    expect((await telemetry.waitFor(body('retained'))).applicationProperties).toEqual({ 'x-opt-retain': 'true' });
    await telemetry.waitFor(body('qos0'));
    await c.endAsync();
  });

  it('sends the will as telemetry when the connection drops without DISCONNECT', async () => {
    const d = await createDevice('will');
    const c = await connectAs(d, { will: { topic: `devices/${d.deviceId}/messages/events/reason=gone`, payload: Buffer.from('last words'), qos: 1, retain: false } });
    c.stream.destroy(); // no DISCONNECT
    const will = await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === d.deviceId);
    expect(Buffer.from(will.body).toString()).toBe('last words');
    expect(will.applicationProperties).toEqual({ reason: 'gone', 'iothub-MessageType': 'Will' });
    c.end(true);
  });
});

describe('sessions and one connection per identity', () => {
  it('keeps a persistent session across reconnects and drops it on clean session', async () => {
    const m = await createModule((await createDevice('sess')).deviceId, 'm1');
    const first = await connectAs(m);
    await first.subscribeAsync({ [`devices/${m.deviceId}/modules/m1/inputs/#`]: { qos: 1 }, '$iothub/methods/POST/#': { qos: 0 } });
    await first.endAsync();
    const connack = (clean: boolean) =>
      new Promise<boolean>((resolve, reject) => {
        connectAs(m, { clean }).then((c) => {
          c.once('end', () => undefined);
          const present = (c as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent;
          c.endAsync().then(() => resolve(present === true), reject);
        }, reject);
      });
    expect(await connack(false)).toBe(true);
    expect(await connack(true)).toBe(false);
    expect(await connack(false)).toBe(false);
  });

  it('a second connection of the same device closes the first', async () => {
    const d = await createDevice('dup');
    const first = await connectAs(d);
    const second = await connectAs(d);
    await closedByServer(first);
    expect(second.connected).toBe(true);
    await second.publishAsync(`devices/${d.deviceId}/messages/events/`, 'second wins', { qos: 1 });
    await second.endAsync();
    first.end(true);
  });
});
