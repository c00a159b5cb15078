import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { NoRetry } from 'azure-iot-common';
import { Registry } from 'azure-iothub';
import { connectNats, subjects } from '@openiothub/bus';
import { startExtraGateway, type ExtraGateway } from './gateways.js';
import { closedByServer, collectTelemetry, createDevice, identityToken, rawConnect, usernameOf } from './devices.js';
import { hub, ownerConnectionString, ownerToken, poll } from './helpers.js';

let second: ExtraGateway | undefined;
let secondMqttPort = 0;
let secondHttpsPort = 0;
let telemetry: Awaited<ReturnType<typeof collectTelemetry>>;

beforeAll(async () => {
  telemetry = await collectTelemetry();
  second = await startExtraGateway();
  secondMqttPort = second.mqttPort;
  secondHttpsPort = second.httpsPort;
});

afterAll(async () => {
  await telemetry?.stop();
  await second?.stop();
});

describe('two gateway processes', () => {
  it('the same device connecting to the second gateway drops its connection on the first (SDK)', async () => {
    const d = await createDevice('two');
    const first = Client.fromConnectionString(d.connectionString, Mqtt);
    first.setRetryPolicy(new NoRetry());
    await first.open();
    const dropped = new Promise<void>((r) => first.once('disconnect', () => r()));
    const viaSecond = Client.fromConnectionString(`${d.connectionString};GatewayHostName=localhost:${secondMqttPort}`, Mqtt);
    await viaSecond.open();
    await dropped;
    const msg = new Message('through the second gateway');
    await viaSecond.sendEvent(msg);
    const got = await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === d.deviceId);
    expect(Buffer.from(got.body).toString()).toBe('through the second gateway');
    await viaSecond.close();
    await first.close().catch(() => undefined);
  });

  it('a persistent session made on one gateway is present on the other', async () => {
    const d = await createDevice('two');
    const a = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d) });
    await a.subscribeAsync({ '$iothub/methods/POST/#': { qos: 0 } });
    await a.endAsync();
    const b = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d), port: secondMqttPort });
    expect((b as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent).toBe(true);
    // and the first gateway closes an older connection when a newer one arrives there
    const c = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d) });
    await closedByServer(b);
    await c.endAsync();
    b.end(true);
  });
});

describe('direct methods across gateways', () => {
  it('a method invoked through the second gateway reaches the device held by the first over the bus; through the first, it stays in that process', async () => {
    const d = await createDevice('xgw');
    const client = Client.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    client.onDeviceMethod('ping', (req, res) => void res.send(200, { pong: req.payload }));
    // what crosses the bus to the device's subject
    const nc = await connectNats(hub().backing.natsUrl, 'e2e-method-spy');
    const onBus: string[] = [];
    nc.subscribe(subjects.method(subjects.identity(hub().hub, d.deviceId)), { callback: (_e, m) => void onBus.push(m.string()) });
    await nc.flush();
    const invoke = async (port: number, n: number) => {
      const res = await fetch(`https://localhost:${port}/twins/${d.deviceId}/methods?api-version=2021-04-12`, {
        method: 'POST',
        headers: { authorization: ownerToken(), 'content-type': 'application/json' },
        body: JSON.stringify({ methodName: 'ping', payload: n, responseTimeoutInSeconds: 10 }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 200, payload: { pong: n } });
    };
    try {
      await invoke(secondHttpsPort, 7);
      await nc.flush();
      expect(onBus).toHaveLength(1);
      await invoke(hub().ports.https, 8);
      await nc.flush();
      expect(onBus).toHaveLength(1);
    } finally {
      await nc.close();
      await client.close();
    }
  });
});

describe('C2D across gateways', () => {
  it('a message sent through the second gateway reaches the device held by the first after a nudge; through the first, it is handed over in process', async () => {
    const d = await createDevice('xc2d');
    const client = Client.fromConnectionString(d.connectionString, Mqtt);
    const received: string[] = [];
    let arrived: () => void = () => undefined;
    client.on('message', (m: Message) => {
      received.push(Buffer.from(m.data as Buffer).toString());
      void client.complete(m).then(() => arrived());
    });
    await client.open();
    // the SDK subscribes to C2D when the listener is added; wait until the hub sees the subscription
    await poll(async () => (await fetch(`https://localhost:${hub().ports.https}/devices/${d.deviceId}/messages/devicebound?api-version=2021-04-12`, { method: 'POST', headers: { authorization: ownerToken() }, body: 'warm-up' })).status, (s) => s === 200, 5000, 'a first send');
    await poll(async () => received.length, (n) => n === 1, 10_000, 'the warm-up message');
    const nc = await connectNats(hub().backing.natsUrl, 'e2e-c2d-spy');
    const nudges: string[] = [];
    nc.subscribe(subjects.c2d(subjects.identity(hub().hub, d.deviceId)), { callback: (_e, m) => void nudges.push(m.subject) });
    await nc.flush();
    const send = async (port: number, body: string) => {
      // the holder's delivery is idle once the messaging service answered the last settlement
      // (the device's PUBACK); a send while it is busy is queued behind it and nudges instead
      await new Promise((r) => setTimeout(r, 500));
      const done = new Promise<void>((r) => (arrived = r));
      const res = await fetch(`https://localhost:${port}/devices/${d.deviceId}/messages/devicebound?api-version=2021-04-12`, { method: 'POST', headers: { authorization: ownerToken() }, body });
      expect(res.status).toBe(200);
      await done;
      await nc.flush();
    };
    try {
      await send(secondHttpsPort, 'via the second gateway');
      expect(nudges).toHaveLength(1);
      await send(hub().ports.https, 'via the holder');
      expect(nudges).toHaveLength(1);
      expect(received).toEqual(['warm-up', 'via the second gateway', 'via the holder']);
    } finally {
      await nc.close();
      await client.close();
    }
  });
});

describe('twins across gateways', () => {
  it('a desired patch sent through the second gateway reaches the device held by the first', async () => {
    const d = await createDevice('xtwin');
    const client = Client.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    const twin = await client.getTwin();
    const got = new Promise<Record<string, unknown>>((resolve) => twin.on('properties.desired', (delta: Record<string, unknown>) => {
      if (delta['fan'] !== undefined) resolve(delta);
    }));
    const res = await fetch(`https://localhost:${secondHttpsPort}/twins/${d.deviceId}?api-version=2021-04-12`, {
      method: 'PATCH',
      headers: { authorization: ownerToken(), 'content-type': 'application/json', 'if-match': '"*"' },
      body: JSON.stringify({ properties: { desired: { fan: 'on' } } }),
    });
    expect(res.status).toBe(200);
    expect(await got).toMatchObject({ fan: 'on', $version: 2 });
    await client.close();
  });
});

describe('SAS renewal', () => {
  it('keeps subscriptions across the SDK renewal reconnect, which does not re-subscribe', async () => {
    const d = await createDevice('renew');
    const registry = Registry.fromConnectionString(ownerConnectionString());
    const client = Client.fromConnectionString(d.connectionString, Mqtt);
    // a new token every 5 s: the SDK disconnects and reconnects with clean session off (sdk-compat §4.8)
    await client.setOptions({ tokenRenewal: { tokenValidTimeInSeconds: 8, tokenRenewalMarginInSeconds: 3 } });
    await client.open();
    // getTwin subscribes to $iothub/twin/res/#; the answer proves delivery
    await client.getTwin();
    const connectedAt = async () => (await registry.get(d.deviceId)).responseBody.connectionStateUpdatedTime as unknown as string;
    const before = await connectedAt();
    await poll(connectedAt, (t) => t !== before, 20_000, 'a renewal reconnect');
    // after the reconnect the SDK sends no SUBSCRIBE; the answer still arrives (a lost
    // subscription would make getTwin time out instead)
    const twin = await client.getTwin();
    expect(twin.properties.desired.$version).toBe(1);
    await client.sendEvent(new Message('after renewal'));
    await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === d.deviceId && Buffer.from(m.body).toString() === 'after renewal');
    expect((await registry.get(d.deviceId)).responseBody.connectionState).toBe('Connected');
    await client.close();
  });

  it('rejects a wrong key through the SDK as UnauthorizedError', async () => {
    const d = await createDevice('sdkneg');
    const wrong = d.connectionString.replace(/SharedAccessKey=.*/, `SharedAccessKey=${Buffer.alloc(32, 5).toString('base64')}`);
    const client = Client.fromConnectionString(wrong, Mqtt);
    await expect(client.open()).rejects.toMatchObject({ name: 'UnauthorizedError' });
  });
});
