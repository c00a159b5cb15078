import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { freePort } from '@openiothub/testing';
import { hub } from './helpers.js';

const gatewayMain = resolve(import.meta.dirname, '../../services/gateway/dist/main.js');

/** Another gateway process (from the build) on free ports, sharing the test hub's back end. */
export interface ExtraGateway {
  readonly mqttPort: number;
  readonly httpsPort: number;
  readonly process: ChildProcess;
  /** SIGTERM (graceful) or SIGKILL (a crash); resolves once the process is gone. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

export async function startExtraGateway(): Promise<ExtraGateway> {
  if (!existsSync(gatewayMain)) throw new Error(`${gatewayMain} is missing: build first (npm test does)`);
  const h = hub();
  const certs = dirname(h.caCertPath);
  const [httpsPort, mqttPort, amqpPort, adminPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const child = spawn(process.execPath, [gatewayMain], {
    stdio: 'ignore',
    env: {
      PATH: process.env['PATH'] ?? '',
      LOG_LEVEL: 'warn',
      HTTPS_HOST: '127.0.0.1',
      HTTPS_PORT: String(httpsPort),
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: String(mqttPort),
      AMQP_HOST: '127.0.0.1',
      AMQP_PORT: String(amqpPort),
      ADMIN_PORT: String(adminPort),
      TLS_CERT_PATH: join(certs, 'server.pem'),
      TLS_KEY_PATH: join(certs, 'server-key.pem'),
      REGISTRY_GRPC_URL: `127.0.0.1:${h.ports.registryGrpc}`,
      TWIN_GRPC_URL: `127.0.0.1:${h.ports.twinGrpc}`,
      MESSAGING_GRPC_URL: `127.0.0.1:${h.ports.messagingGrpc}`,
      ROUTING_GRPC_URL: `127.0.0.1:${h.ports.routingGrpc}`,
      NATS_URL: h.backing.natsUrl,
      REDIS_URL: h.backing.redisUrl,
      DEFAULT_HUB: h.hub,
    },
  });
  const deadline = Date.now() + 20_000;
  while (!(await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error('the extra gateway did not become ready');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    mqttPort,
    httpsPort,
    process: child,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}
