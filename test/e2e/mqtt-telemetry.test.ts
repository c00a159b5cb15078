import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Message, ModuleClient } from 'azure-iot-device';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { Registry } from 'azure-iothub';
import { collectTelemetry, createDevice, createModule } from './devices.js';
import { iothub, ownerConnectionString, poll } from './helpers.js';

let telemetry: Awaited<ReturnType<typeof collectTelemetry>>;
beforeAll(async () => {
  telemetry = await collectTelemetry();
});
afterAll(async () => {
  await telemetry.stop();
});

const fromDevice = (deviceId: string, moduleId?: string) => (m: { systemProperties: Record<string, string> }) =>
  m.systemProperties['iothub-connection-device-id'] === deviceId && m.systemProperties['iothub-connection-module-id'] === moduleId;

describe.each([
  ['Mqtt', Mqtt],
  ['MqttWs', MqttWs],
] as const)('azure-iot-device over %s', (_name, Transport) => {
  it('sends telemetry whose body, system and application properties arrive intact', async () => {
    const d = await createDevice('tel');
    const client = Client.fromConnectionString(d.connectionString, Transport);
    await client.open();
    const msg = new Message(JSON.stringify({ temp: 21.5 }));
    msg.messageId = 'mid-1';
    msg.correlationId = 'cid/1';
    msg.userId = 'user1';
    msg.contentType = 'application/json';
    msg.contentEncoding = 'utf-8';
    msg.properties.add('alert level', 'high&mighty=1');
    msg.properties.add('ünï', 'çødé ✓');
    await client.sendEvent(msg);
    const got = await telemetry.waitFor(fromDevice(d.deviceId));
    expect(JSON.parse(Buffer.from(got.body).toString())).toEqual({ temp: 21.5 });
    expect(got.applicationProperties).toEqual({ 'alert level': 'high&mighty=1', 'ünï': 'çødé ✓' });
    expect(got.systemProperties).toMatchObject({
      'message-id': 'mid-1',
      'correlation-id': 'cid/1',
      'user-id': 'user1',
      'content-type': 'application/json',
      'content-encoding': 'utf-8',
      'iothub-connection-device-id': d.deviceId,
      'iothub-message-source': 'Telemetry',
    });
    expect(JSON.parse(got.systemProperties['iothub-connection-auth-method']!)).toMatchObject({ scope: 'device', type: 'sas', issuer: 'iothub' });
    expect(got.systemProperties['iothub-connection-auth-generation-id']).toMatch(/^\d{18}$/);
    expect(Date.parse(got.systemProperties['iothub-enqueuedtime']!)).toBeGreaterThan(Date.now() - 60_000);

    // a message without a message id gets one from the hub
    await client.sendEvent(new Message('no id'));
    const stamped = await telemetry.waitFor((m) => fromDevice(d.deviceId)(m) && Buffer.from(m.body).toString() === 'no id');
    expect(stamped.systemProperties['message-id']).toMatch(/^[0-9a-f-]{36}$/);
    await client.close();
  });

  it('sends module telemetry and output events stamped with the module id', async () => {
    const d = await createDevice('modtel');
    const m = await createModule(d.deviceId, 'sensor');
    const client = ModuleClient.fromConnectionString(m.connectionString, Transport);
    await client.open();
    await client.sendEvent(new Message('from module'));
    await client.sendOutputEvent('out1', new Message('output'));
    const plain = await telemetry.waitFor((x) => fromDevice(d.deviceId, 'sensor')(x) && Buffer.from(x.body).toString() === 'from module');
    expect(JSON.parse(plain.systemProperties['iothub-connection-auth-method']!)).toMatchObject({ scope: 'module' });
    const output = await telemetry.waitFor((x) => fromDevice(d.deviceId, 'sensor')(x) && Buffer.from(x.body).toString() === 'output');
    expect(output.systemProperties['iothub-outputname']).toBe('out1');
    await client.close();
  });
});

describe('connection state and monitor-events', () => {
  it('shows Connected while the SDK is connected, Disconnected after, and lastActivityTime', async () => {
    const d = await createDevice('state');
    const registry = Registry.fromConnectionString(ownerConnectionString());
    const client = Client.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    const state = (want: string) => poll(async () => (await registry.get(d.deviceId)).responseBody, (dev) => dev.connectionState === want, 10_000, `connectionState ${want}`);
    const connected = await state('Connected');
    expect(Date.parse(connected.lastActivityTime as unknown as string)).toBeGreaterThan(Date.now() - 60_000);
    await client.close();
    await state('Disconnected');
  });

  it('iothub monitor-events prints the event with its properties', async () => {
    const d = await createDevice('mon');
    const monitor = iothub('monitor-events', '-d', d.deviceId, '--properties', 'all', '--max', '1', '--timeout', '20');
    const client = Client.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    // the monitor subscribes asynchronously: keep sending until it has printed one
    const msg = () => {
      const m = new Message(JSON.stringify({ hello: 'monitor' }));
      m.properties.add('k', 'v');
      return m;
    };
    let printed = false;
    void monitor.then(() => (printed = true));
    while (!printed) {
      await client.sendEvent(msg());
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await monitor;
    await client.close();
    expect(r.code).toBe(0);
    const event = (JSON.parse(r.out) as { event: { origin: string; payload: unknown; properties: { application: unknown; system: Record<string, string> } } }).event;
    expect(event.origin).toBe(d.deviceId);
    expect(event.payload).toEqual({ hello: 'monitor' });
    expect(event.properties.application).toEqual({ k: 'v' });
    expect(event.properties.system['iothub-connection-device-id']).toBe(d.deviceId);
  });
});
