import { describe, expect, it } from 'vitest';
import { Client as DeviceClient, ModuleClient } from 'azure-iot-device';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { Amqp, AmqpWs } from 'azure-iot-device-amqp';
import { Client as ServiceClient } from 'azure-iothub';
import { createDevice, createModule } from './devices.js';
import { hubFetch, ownerConnectionString } from './helpers.js';

const service = () => ServiceClient.fromConnectionString(ownerConnectionString());

describe.each([
  ['Mqtt', Mqtt],
  ['MqttWs', MqttWs],
  ['Amqp', Amqp],
  ['AmqpWs', AmqpWs],
] as const)('direct methods to a device on %s', (_name, Transport) => {
  it('round-trips payload and status, including a device error status and a 202 command', async () => {
    const d = await createDevice('meth');
    const device = DeviceClient.fromConnectionString(d.connectionString, Transport);
    await device.open();
    device.onDeviceMethod('reboot', (req, res) => void res.send(200, { result: 'rebooting', got: req.payload }));
    device.onDeviceMethod('fail', (_req, res) => void res.send(500, { error: 'disk full' }));
    device.onDeviceMethod('thermostat1*getMaxMinReport', (_req, res) => void res.send(202, null));
    const ok = await service().invokeDeviceMethod(d.deviceId, { methodName: 'reboot', payload: { delay: 5 }, responseTimeoutInSeconds: 10 });
    expect(ok.result).toEqual({ status: 200, payload: { result: 'rebooting', got: { delay: 5 } } });
    const failed = await service().invokeDeviceMethod(d.deviceId, { methodName: 'fail', payload: null, responseTimeoutInSeconds: 10 });
    expect(failed.result).toEqual({ status: 500, payload: { error: 'disk full' } });
    const accepted = await service().invokeDeviceMethod(d.deviceId, { methodName: 'thermostat1*getMaxMinReport', responseTimeoutInSeconds: 10 });
    expect(accepted.result).toEqual({ status: 202, payload: null });
    await device.close();
  });
});

describe('direct methods: failures', () => {
  it('answers 404 DeviceNotOnline at once for an offline device', async () => {
    const d = await createDevice('off');
    const t0 = Date.now();
    const err = (await service()
      .invokeDeviceMethod(d.deviceId, { methodName: 'x', responseTimeoutInSeconds: 30 })
      .catch((e: unknown) => e)) as { responseBody?: string; response?: { statusCode?: number } };
    expect(err.response?.statusCode).toBe(404);
    expect(JSON.parse(err.responseBody ?? '{}').Message).toMatch(/^ErrorCode:DeviceNotOnline;/);
    // "at once": well before the 30 s response timeout
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('waits for a device that connects within the connect timeout', async () => {
    const d = await createDevice('late');
    const pending = service().invokeDeviceMethod(d.deviceId, { methodName: 'hello', responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 20 });
    const device = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await device.open();
    device.onDeviceMethod('hello', (_req, res) => void res.send(200, 'hi'));
    expect((await pending).result).toEqual({ status: 200, payload: 'hi' });
    await device.close();
  });

  it('answers 504 GatewayTimeout when the device does not respond in time', async () => {
    const d = await createDevice('slow');
    const device = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await device.open();
    device.onDeviceMethod('slow', () => undefined); // never answers
    await expect(service().invokeDeviceMethod(d.deviceId, { methodName: 'slow', responseTimeoutInSeconds: 5 })).rejects.toMatchObject({ name: 'GatewayTimeoutError' });
    await device.close();
  });

  it('answers 404 when the device is connected but has not subscribed to methods', async () => {
    const d = await createDevice('nosub');
    const device = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await device.open();
    const res = await hubFetch(`/twins/${d.deviceId}/methods`, { method: 'POST', body: JSON.stringify({ methodName: 'x', responseTimeoutInSeconds: 5 }) });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { Message: string }).Message).toMatch(/^ErrorCode:DeviceNotOnline;/);
    await device.close();
  });

  it('within the connect timeout, waits for a connected device to subscribe to methods', async () => {
    const d = await createDevice('subscribes-late');
    const device = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await device.open(); // connected, not yet subscribed: asked now, the gateway answers "not subscribed"
    const pending = service().invokeDeviceMethod(d.deviceId, { methodName: 'hello', responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 20 });
    await new Promise((r) => setTimeout(r, 1500));
    device.onDeviceMethod('hello', (_req, res) => void res.send(200, 'late'));
    expect((await pending).result).toEqual({ status: 200, payload: 'late' });
    await device.close();
  });

  it('answers 404 once the connect timeout passes without the device subscribing', async () => {
    const d = await createDevice('never-subscribes');
    const device = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await device.open();
    const t0 = Date.now();
    const res = await hubFetch(`/twins/${d.deviceId}/methods`, { method: 'POST', body: JSON.stringify({ methodName: 'x', responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 2 }) });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { Message: string }).Message).toMatch(/^ErrorCode:DeviceNotOnline;/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    await device.close();
  });

  it('rejects bad invocations with 400 and needs ServiceConnect', async () => {
    const d = await createDevice('badinv');
    for (const body of ['{', JSON.stringify({}), JSON.stringify({ methodName: 'a b' }), JSON.stringify({ methodName: 'm', responseTimeoutInSeconds: 301 })]) {
      const res = await hubFetch(`/twins/${d.deviceId}/methods`, { method: 'POST', body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { Message: string }).Message).toMatch(/^ErrorCode:ArgumentInvalid;/);
    }
  });
});

describe('module methods', () => {
  it.each([
    ['Mqtt', Mqtt],
    ['Amqp', Amqp],
  ] as const)('invokes a method on a module client on %s', async (_name, Transport) => {
    const d = await createDevice('mm');
    const m = await createModule(d.deviceId, 'filter');
    const mod = ModuleClient.fromConnectionString(m.connectionString, Transport);
    await mod.open();
    mod.onMethod('setThreshold', (req, res) => void res!.send(200, { threshold: (req!.payload as { value: number }).value }));
    const r = await service().invokeDeviceMethod(d.deviceId, 'filter', { methodName: 'setThreshold', payload: { value: 42 }, responseTimeoutInSeconds: 10 });
    expect(r.result).toEqual({ status: 200, payload: { threshold: 42 } });
    // the device itself is not the module: it is offline
    await expect(service().invokeDeviceMethod(d.deviceId, { methodName: 'setThreshold', responseTimeoutInSeconds: 5 })).rejects.toBeDefined();
    await mod.close();
  });
});
