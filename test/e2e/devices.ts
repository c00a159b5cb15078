import { readFileSync } from 'node:fs';
import type { Twin as DeviceTwin } from 'azure-iot-device';
import { Registry } from 'azure-iothub';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { connectNats, followD2C, type ReadD2CMessage } from '@openiothub/bus';
import { createSasToken, deviceConnectionString } from '@openiothub/auth';
import { uniqueName } from '@openiothub/testing';
import { hub, ownerConnectionString } from './helpers.js';

/** A registered device (or module) with its key and connection string. */
export interface TestIdentity {
  readonly deviceId: string;
  readonly moduleId?: string;
  readonly key: string;
  readonly connectionString: string;
}

/** Register a device through the service SDK (as a user would). */
export async function createDevice(prefix = 'dev', opts: { status?: 'enabled' | 'disabled' } = {}): Promise<TestIdentity> {
  const registry = Registry.fromConnectionString(ownerConnectionString());
  const deviceId = uniqueName(prefix);
  const { responseBody } = await registry.create({ deviceId, status: opts.status ?? 'enabled' });
  const key = responseBody.authentication!.symmetricKey!.primaryKey!;
  return { deviceId, key, connectionString: deviceConnectionString({ hostName: hub().hostName, deviceId, sharedAccessKey: key }) };
}

/** Register a module on a device. */
export async function createModule(deviceId: string, moduleId = 'mod1'): Promise<TestIdentity> {
  const registry = Registry.fromConnectionString(ownerConnectionString());
  const { responseBody } = await registry.addModule({ deviceId, moduleId });
  const key = responseBody.authentication!.symmetricKey!.primaryKey!;
  return { deviceId, moduleId, key, connectionString: deviceConnectionString({ hostName: hub().hostName, deviceId, moduleId, sharedAccessKey: key }) };
}

/** A device or module SAS token, encoded as the SDK does, valid for `ttlSeconds` (negative: expired). */
export function identityToken(id: { deviceId: string; moduleId?: string; key: string }, ttlSeconds = 3600, host = hub().hostName): string {
  const resourceUri = `${host}/devices/${id.deviceId}${id.moduleId ? `/modules/${id.moduleId}` : ''}`;
  return createSasToken({ resourceUri, key: id.key, expiry: Math.floor(Date.now() / 1000) + ttlSeconds });
}

/** Collects the hub's telemetry from JetStream from now on. */
export async function collectTelemetry(hubName: string = hub().hub) {
  const nc = await connectNats(hub().backing.natsUrl, 'e2e-d2c-reader');
  const seen: ReadD2CMessage[] = [];
  const waiters: Array<() => void> = [];
  const ac = new AbortController();
  const done = followD2C(nc, hubName, (m) => {
    seen.push(m);
    for (const w of waiters.splice(0)) w();
  }, ac.signal);
  // the consumer exists once followD2C has subscribed: give it a round trip
  await nc.flush();
  return {
    seen,
    /** Resolve the first message matching `pred`, or reject after `ms`. */
    async waitFor(pred: (m: ReadD2CMessage) => boolean, ms = 10_000): Promise<ReadD2CMessage> {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = seen.find(pred);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching telemetry within ${ms} ms (saw ${seen.length})`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    async stop() {
      ac.abort();
      await done.catch(() => undefined);
      await nc.close();
    },
  };
}

/** Connect a raw MQTT 3.1.1 client (mqtt.js) over TLS with the hub's CA; resolves the client or rejects with the CONNACK error. */
export function rawConnect(opts: Partial<IClientOptions> & { clientId: string; username: string; password?: string; port?: number }): Promise<MqttClient> {
  const { port, ...rest } = opts;
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: 'localhost',
      port: port ?? hub().ports.mqtt,
      ca: readFileSync(hub().caCertPath),
      protocolVersion: 4,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 60,
      ...rest,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** Username the SDK would send for an identity. */
export function usernameOf(id: { deviceId: string; moduleId?: string }, host = hub().hostName): string {
  return `${host}/${id.deviceId}${id.moduleId ? `/${id.moduleId}` : ''}/?api-version=2021-04-12`;
}

/** Resolve when the client is closed by the server, or reject after `ms`. */
export function closedByServer(client: MqttClient, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (client.disconnected || !client.connected) return resolve();
    const t = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
    client.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * Report properties from a device twin and wait for the hub's answer. The SDK's update takes a
 * callback only: called without one, it throws inside the SDK when the hub answers.
 */
export function reportProperties(twin: DeviceTwin, patch: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => twin.properties.reported.update(patch, (err?: Error) => (err ? reject(err) : resolve())));
}
