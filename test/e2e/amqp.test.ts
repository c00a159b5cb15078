import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as DeviceClient, Message } from 'azure-iot-device';
import { Amqp, AmqpWs } from 'azure-iot-device-amqp';
import { Client as ServiceClient } from 'azure-iothub';
import { Message as ServiceMessage, NoRetry } from 'azure-iot-common';
import { c2dReceiver } from './c2d.js';
import { collectTelemetry, createDevice } from './devices.js';
import { ownerConnectionString, policyConnectionString, poll } from './helpers.js';

let telemetry: Awaited<ReturnType<typeof collectTelemetry>>;

beforeAll(async () => {
  telemetry = await collectTelemetry();
});
afterAll(async () => {
  await telemetry?.stop();
});

describe('AMQP: service client and feedback (scenario 12 as written)', () => {
  it('send with ack full reaches an AMQP device; its completion comes back on the feedback receiver', async () => {
    const d = await createDevice('amqp12');
    const device = await c2dReceiver(d, Amqp, (c, m) => c.complete(m));
    const service = ServiceClient.fromConnectionString(ownerConnectionString());
    await service.open();
    const records: Array<Record<string, string>> = [];
    const contentTypes: string[] = [];
    const receiver = (await service.getFeedbackReceiver()).result;
    receiver.on('message', (m: { data: Buffer; contentType?: string; properties?: unknown }) => {
      contentTypes.push(String((m as { contentType?: string }).contentType ?? ''));
      records.push(...(JSON.parse(m.data.toString('utf8')) as Array<Record<string, string>>));
      void receiver.complete(m as never, () => undefined);
    });
    const msg = new ServiceMessage('Cloud to device message.');
    msg.ack = 'full';
    msg.messageId = `My Message ID ${Date.now()}`;
    msg.properties.add('color', 'blue');
    const sent = await service.send(d.deviceId, msg);
    expect(sent.result.constructor.name).toBe('MessageEnqueued');
    await device.waitFor(1);
    expect(device.got[0]!.messageId).toBe(msg.messageId);
    expect(device.got[0]!.data.toString()).toBe('Cloud to device message.');
    expect(device.got[0]!.properties.getValue('color')).toBe('blue');
    await poll(async () => records.filter((r) => r.originalMessageId === msg.messageId).length, (n) => n === 1, 15_000, 'feedback over AMQP');
    expect(records.find((r) => r.originalMessageId === msg.messageId)).toMatchObject({ description: 'Success', deviceId: d.deviceId });
    expect(contentTypes).toContain('application/vnd.microsoft.iothub.feedback.json');
    await service.close();
    await device.client.close();
  });

  it('refuses a message to an unknown device, and a policy without ServiceConnect', async () => {
    const service = ServiceClient.fromConnectionString(ownerConnectionString());
    await service.open();
    await expect(service.send('no-such-device-amqp', new ServiceMessage('x'))).rejects.toThrow();
    await service.close();
    const readOnly = ServiceClient.fromConnectionString(await policyConnectionString('registryRead'));
    await expect(readOnly.open().then(() => readOnly.send('whoever', new ServiceMessage('x')))).rejects.toThrow();
    await readOnly.close().catch(() => undefined);
  });
});

describe.each([
  ['Amqp', Amqp],
  ['AmqpWs', AmqpWs],
] as const)('AMQP device on %s', (name, Transport) => {
  it('sends telemetry with properties to the D2C stream', async () => {
    const d = await createDevice(`amqpd2c${name}`);
    const client = DeviceClient.fromConnectionString(d.connectionString, Transport);
    await client.open();
    const m = new Message('{"t":21.5}');
    m.messageId = `amqp-${Date.now()}`;
    m.contentType = 'application/json';
    m.contentEncoding = 'utf-8';
    m.properties.add('alert', 'high');
    await client.sendEvent(m);
    const got = await telemetry.waitFor((e) => e.systemProperties['iothub-connection-device-id'] === d.deviceId);
    expect(Buffer.from(got.body).toString()).toBe('{"t":21.5}');
    expect(got.systemProperties).toMatchObject({ 'message-id': m.messageId, 'content-type': 'application/json', 'content-encoding': 'utf-8' });
    expect(got.applicationProperties).toEqual({ alert: 'high' });
    await client.close();
  });
});

describe('AMQP: bad input', () => {
  it('refuses a device with a wrong key', async () => {
    const d = await createDevice('amqpbad');
    const wrong = d.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
    const client = DeviceClient.fromConnectionString(wrong, Amqp);
    client.setRetryPolicy(new NoRetry());
    await expect(client.open()).rejects.toThrow();
    // the gateway is still up
    const ok = DeviceClient.fromConnectionString(d.connectionString, Amqp);
    await ok.open();
    await ok.sendEvent(new Message('still here'));
    await ok.close();
  });
});
