import { dirname, join, resolve } from 'node:path';
import { freePort, startServiceProcess, type ServiceProcess } from '@openiothub/testing';
import { hub } from './helpers.js';

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
