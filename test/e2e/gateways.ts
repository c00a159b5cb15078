import { dirname, join, resolve } from 'node:path';
import { createSasToken } from '@openiothub/auth';
import { freePort, startServiceProcess, uniqueName, type ServiceProcess } from '@openiothub/testing';
import { hub, iothub } from './helpers.js';

const serviceMain = (name: string) => resolve(import.meta.dirname, `../../services/${name}/dist/main.js`);

/** Another gateway process (from the build) on free ports, sharing the test hub's back end. */
export interface ExtraGateway {
  readonly mqttPort: number;
  readonly httpsPort: number;
  readonly amqpPort: number;
  readonly process: ServiceProcess['child'];
  /** What the process logged (started with `logs: 'capture'`). */
  logs(): string;
  /** Its Prometheus `/metrics` text. */
  metrics(): Promise<string>;
  /** SIGTERM (graceful) or SIGKILL (a crash); resolves once the process is gone. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

export async function startExtraGateway(opts: { hub?: string; env?: Record<string, string>; logs?: 'capture' } = {}): Promise<ExtraGateway> {
  const h = hub();
  const certs = dirname(h.caCertPath);
  const [httpsPort, mqttPort, amqpPort, adminPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const p = await startServiceProcess({
    entry: serviceMain('gateway'),
    adminPort,
    ...(opts.logs ? { logs: opts.logs } : {}),
    env: {
      HTTPS_HOST: '127.0.0.1',
      HTTPS_PORT: String(httpsPort),
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: String(mqttPort),
      AMQP_HOST: '127.0.0.1',
      AMQP_PORT: String(amqpPort),
      TLS_CERT_PATH: join(certs, 'server.pem'),
      TLS_KEY_PATH: join(certs, 'server-key.pem'),
      REGISTRY_GRPC_URL: `127.0.0.1:${h.ports.registryGrpc}`,
      TWIN_GRPC_URL: `127.0.0.1:${h.ports.twinGrpc}`,
      MESSAGING_GRPC_URL: `127.0.0.1:${h.ports.messagingGrpc}`,
      ROUTING_GRPC_URL: `127.0.0.1:${h.ports.routingGrpc}`,
      NATS_URL: h.backing.natsUrl,
      REDIS_URL: h.backing.redisUrl,
      DEFAULT_HUB: opts.hub ?? h.hub,
      ...opts.env,
    },
  });
  return { mqttPort, httpsPort, amqpPort, process: p.child, logs: () => p.logs(), metrics: () => p.metrics(), stop: (signal) => p.stop(signal) };
}

/** A hub of its own (created with the CLI, as an operator would) and its owner's SAS token for the `localhost` host name. */
export async function ownHub(name: string, sku?: string): Promise<{ name: string; token: string }> {
  const created = await iothub('hub', 'create', '-n', name, ...(sku ? ['--sku', sku, '--unit', '1'] : []));
  if (created.code !== 0) throw new Error(created.err);
  const owner = (await iothub('--hub', name, 'policy', 'show', '-n', 'iothubowner')).json() as { primaryKey: string };
  return { name, token: createSasToken({ resourceUri: 'localhost', key: owner.primaryKey, keyName: 'iothubowner', expiry: Math.floor(Date.now() / 1000) + 3600, encode: false }) };
}

/** REST calls to an extra gateway's HTTPS port with a service token (JSON bodies; strings sent as they are). */
export function restOn(gateway: () => ExtraGateway, token: () => string) {
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`https://localhost:${gateway().httpsPort}${path}?api-version=2021-04-12`, {
      method,
      headers: { authorization: token(), 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  /** Register a device through that gateway; resolves its id and primary key. */
  const createDevice = async (prefix = 'dev'): Promise<{ deviceId: string; key: string }> => {
    const deviceId = uniqueName(prefix);
    const res = await call('PUT', `/devices/${deviceId}`, { deviceId });
    if (res.status !== 200) throw new Error(`device not created: ${res.status} ${await res.text()}`);
    return { deviceId, key: ((await res.json()) as { authentication: { symmetricKey: { primaryKey: string } } }).authentication.symmetricKey.primaryKey };
  };
  return { call, createDevice };
}
