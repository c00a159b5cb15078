import { createServer, connect, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { buildConnectionString } from '@openiothub/auth';
import { ensureDevCertificates } from '@openiothub/local';
import { grpc, promiseClient, registryV1 } from '@openiothub/proto';
import { freePort, startServiceProcess, testUrls, uniqueName, type ServiceProcess } from '@openiothub/testing';

/**
 * A horizontally scaled Open IoT Hub on one host: several processes of every service from the
 * build (distinct ports, one Postgres, NATS and Redis), gRPC clients spreading their calls over
 * every process of a service (`ipv4:` targets, round robin), and a TCP round-robin proxy on the
 * ports the Azure SDKs dial (443, 8883, 5671) in front of the gateways. Any process can be killed
 * and started again on the same ports.
 */

const root = resolve(import.meta.dirname, '../..');
const entry = (service: string) => join(root, 'services', service, 'dist', 'main.js');

export const LAYOUT = { gateway: 3, registry: 2, twin: 2, messaging: 2, routing: 2, jobs: 2, streams: 2 } as const;
export type ServiceName = keyof typeof LAYOUT;

interface Member {
  readonly name: string; // e.g. gateway-1
  readonly service: ServiceName;
  readonly env: Record<string, string>;
  readonly adminPort: number;
  proc: ServiceProcess | undefined;
}

/** A TCP proxy handing each new connection to the next backend that accepts it. */
export class RoundRobinProxy {
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();
  /** Connections handed to each backend port. */
  readonly counts = new Map<number, number>();

  async listen(host: string, port: number, backends: readonly number[]): Promise<void> {
    let next = 0; // each listener takes its own turns
    const server = createServer((client) => {
      this.#sockets.add(client);
      client.once('close', () => this.#sockets.delete(client));
      client.on('error', () => undefined);
      client.pause();
      // try each backend once, starting at the next in turn: a dead process is skipped
      const attempt = (tries: number) => {
        const backend = backends[next++ % backends.length]!;
        const upstream = connect({ host: '127.0.0.1', port: backend });
        upstream.once('connect', () => {
          this.counts.set(backend, (this.counts.get(backend) ?? 0) + 1);
          this.#sockets.add(upstream);
          upstream.once('close', () => this.#sockets.delete(upstream));
          client.pipe(upstream).pipe(client);
          client.resume();
          upstream.on('close', () => client.destroy());
          client.on('close', () => upstream.destroy());
        });
        upstream.once('error', () => {
          upstream.destroy();
          if (tries + 1 < backends.length && !client.destroyed) attempt(tries + 1);
          else client.destroy();
        });
      };
      attempt(0);
    });
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => ok());
    });
    this.#servers.push(server);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

export interface ScaleCluster {
  readonly hub: string;
  readonly hostName: string;
  readonly ownerConnectionString: string;
  readonly caCertPath: string;
  readonly members: readonly Member[];
  readonly proxy: RoundRobinProxy;
  /** Ports of each gateway process (the proxy's backends). */
  readonly gateways: ReadonlyArray<{ https: number; mqtt: number; amqp: number }>;
  /** kill -9 a process, then start it again on the same ports and wait until it is ready. */
  crashAndRestart(name: string, downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const multi = (ports: readonly number[]) => `ipv4:${ports.map((p) => `127.0.0.1:${p}`).join(',')}`;

/** Where the cluster's dev CA and server certificate live (the global setup trusts the CA for the SDKs). */
export const SCALE_CERTS_DIR = join(root, '.data', 'scale', 'certs');

export async function startScaleCluster(opts: { ports?: { https: number; mqtt: number; amqp: number }; env?: Record<string, string> } = {}): Promise<ScaleCluster> {
  const urls = testUrls();
  const hub = uniqueName('scale');
  const certs = await ensureDevCertificates(SCALE_CERTS_DIR);
  const free = async (n: number) => Promise.all(Array.from({ length: n }, () => freePort()));
  const grpcPorts = Object.fromEntries(await Promise.all(Object.entries(LAYOUT).map(async ([s, n]) => [s, await free(n)] as const))) as Record<ServiceName, number[]>;
  const targets = Object.fromEntries(Object.entries(grpcPorts).map(([s, ports]) => [s, multi(ports)])) as Record<ServiceName, string>;
  const gateways = await Promise.all(Array.from({ length: LAYOUT.gateway }, async () => ({ https: await freePort(), mqtt: await freePort(), amqp: await freePort() })));
  const relays = await free(LAYOUT.streams);
  const shared = { NATS_URL: urls.natsUrl, LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: '5000', ...opts.env };
  const db = { DATABASE_URL: urls.databaseUrl };
  const envOf = (service: ServiceName, i: number): Record<string, string> => {
    const grpcPort = String(grpcPorts[service][i]);
    const grpcEnv = { GRPC_HOST: '127.0.0.1', GRPC_PORT: grpcPort };
    switch (service) {
      case 'registry':
        // one registry creates the hub at start; the other serves it
        return { ...shared, ...db, ...grpcEnv, ...(i === 0 ? { DEFAULT_HUB: hub } : {}) };
      case 'twin':
        return { ...shared, ...db, ...grpcEnv, REGISTRY_GRPC_URL: targets.registry };
      case 'messaging':
        // C2D lock of 3 s (IoT Hub: 60 s): a message held by a killed gateway comes back quickly
        return { ...shared, ...db, ...grpcEnv, REDIS_URL: urls.redisUrl, REGISTRY_GRPC_URL: targets.registry, C2D_LOCK_MS: '3000', SWEEP_INTERVAL_MS: '300' };
      case 'routing':
        return { ...shared, ...db, ...grpcEnv, REDIS_URL: urls.redisUrl, REGISTRY_GRPC_URL: targets.registry, TWIN_GRPC_URL: targets.twin, ROUTING_HUBS: hub, ROUTING_LEASE_MS: '3000', ROUTING_ACK_WAIT_MS: '3000' };
      case 'jobs':
        return { ...shared, ...db, ...grpcEnv, REGISTRY_GRPC_URL: targets.registry, TWIN_GRPC_URL: targets.twin, JOBS_HUBS: hub, JOBS_POLL_MS: '200' };
      case 'streams':
        return {
          ...shared,
          ...grpcEnv,
          REDIS_URL: urls.redisUrl,
          RELAY_HOST: '127.0.0.1',
          RELAY_PORT: String(relays[i]),
          RELAY_PUBLIC_URL: `wss://localhost:${relays[i]}`,
          RELAY_CA_PATH: certs.caCertPath,
          TLS_CERT_PATH: certs.serverCertPath,
          TLS_KEY_PATH: certs.serverKeyPath,
          STREAMS_TOKEN_SECRET: 'scale-streams-secret-0123456789',
        };
      case 'gateway': {
        const g = gateways[i]!;
        return {
          ...shared,
          REDIS_URL: urls.redisUrl,
          HTTPS_HOST: '127.0.0.1',
          HTTPS_PORT: String(g.https),
          MQTT_HOST: '127.0.0.1',
          MQTT_PORT: String(g.mqtt),
          AMQP_HOST: '127.0.0.1',
          AMQP_PORT: String(g.amqp),
          TLS_CERT_PATH: certs.serverCertPath,
          TLS_KEY_PATH: certs.serverKeyPath,
          REGISTRY_GRPC_URL: targets.registry,
          TWIN_GRPC_URL: targets.twin,
          MESSAGING_GRPC_URL: targets.messaging,
          ROUTING_GRPC_URL: targets.routing,
          JOBS_GRPC_URL: targets.jobs,
          STREAMS_GRPC_URL: targets.streams,
          DEFAULT_HUB: hub,
          HTTP_DRAIN_MS: '500',
        };
      }
    }
  };

  const members: Member[] = [];
  for (const service of Object.keys(LAYOUT) as ServiceName[]) {
    for (let i = 0; i < LAYOUT[service]; i += 1) members.push({ name: `${service}-${i}`, service, env: envOf(service, i), adminPort: await freePort(), proc: undefined });
  }
  const start = async (m: Member) => {
    m.proc = await startServiceProcess({ entry: entry(m.service), env: m.env, adminPort: m.adminPort, deadlineMs: 60_000 });
  };
  // the registry first (it creates the hub and the schemas the others read), then everything else at once
  for (const m of members.filter((x) => x.service === 'registry')) await start(m);
  await Promise.all(members.filter((x) => x.service !== 'registry').map(start));

  const proxy = new RoundRobinProxy();
  const ports = opts.ports ?? { https: 443, mqtt: 8883, amqp: 5671 };
  await proxy.listen('127.0.0.1', ports.https, gateways.map((g) => g.https));
  await proxy.listen('127.0.0.1', ports.mqtt, gateways.map((g) => g.mqtt));
  await proxy.listen('127.0.0.1', ports.amqp, gateways.map((g) => g.amqp));

  // the owner policy's key, from the registry's gRPC API (as the CLI's policy commands read it)
  const registry = new registryV1.RegistryServiceClient(`127.0.0.1:${grpcPorts.registry[0]}`, grpc.credentials.createInsecure());
  const owner = (await promiseClient(registry, registryV1.RegistryServiceService).getPolicy({ hub, keyName: 'iothubowner' })).policy!;
  registry.close();
  const hostName = 'localhost';
  return {
    hub,
    hostName,
    ownerConnectionString: buildConnectionString({ HostName: hostName, SharedAccessKeyName: owner.keyName, SharedAccessKey: owner.primaryKey }),
    caCertPath: certs.caCertPath,
    members,
    proxy,
    gateways,
    async crashAndRestart(name, downMs = 500) {
      const m = members.find((x) => x.name === name);
      if (!m?.proc) throw new Error(`no process ${name}`);
      await m.proc.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, downMs));
      await start(m);
    },
    async stop() {
      await proxy.close();
      await Promise.all(members.map((m) => m.proc?.stop('SIGTERM')));
    },
  };
}
