import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { createSasToken } from '@openiothub/auth';
import { ensureDevCertificates } from '@openiothub/local';
import { connectClient, registryV1 } from '@openiothub/proto';
import { freePort } from '@openiothub/runtime';
import { testUrls, uniqueName } from '@openiothub/testing';

export const root = resolve(import.meta.dirname, '../../..');
export const urls = testUrls();
/** One key for every benchmark device. */
export const KEY = Buffer.alloc(32, 42).toString('base64');
export const log = (s: string) => process.stderr.write(`${s}\n`);
export const int = (name: string, def: number) => (process.env[name] ? Number(process.env[name]) : def);

/** A hub made of separately started service processes (their CPU and RSS are their own). */
export interface BenchHub {
  readonly hub: string;
  readonly ca: Buffer;
  readonly mqttPort: number;
  readonly httpsPort: number;
  readonly amqpPort: number;
  readonly gatewayPid: number;
  readonly gatewayAdminPort: number;
  /** Every gateway process (`gateways` option; the first is the one above). */
  readonly gateways: ReadonlyArray<{ pid: number; mqttPort: number; httpsPort: number; amqpPort: number }>;
  readonly registryGrpc: number;
  readonly twinGrpc: number;
  /** The messaging process, when started. */
  readonly messagingPid: number | undefined;
  /** The routing process, when started (telemetry reaches the built-in endpoint only through it). */
  readonly routingPid: number | undefined;
  readonly routingGrpc: number;
  /** The jobs process, when started. */
  readonly jobsPid: number | undefined;
  readonly jobsGrpc: number;
  /** The twin process, when started. */
  readonly twinPid: number | undefined;
  /** The provisioning process, when started. */
  readonly provisioningPid: number | undefined;
  readonly provisioningGrpc: number;
  /** A service SAS token for the owner policy. */
  ownerToken(): Promise<string>;
  stop(): Promise<void>;
}

/** PROFILE=1 (the gateway) or PROFILE=gateway,twin: V8 CPU profiles in .data/profiles, written at exit. */
function profileArgs(name: string): string[] {
  const p = process.env['PROFILE'];
  if (!p) return [];
  const names = p === '1' ? ['gateway'] : p.split(',');
  return names.includes(name) ? ['--cpu-prof', `--cpu-prof-dir=${join(root, '.data', 'profiles')}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
}

async function startService(children: ChildProcess[], name: string, env: Record<string, string>, adminPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...profileArgs(name), join(root, 'services', name, 'dist', 'main.js')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'warn', ADMIN_PORT: String(adminPort), ...env },
  });
  children.push(child);
  const deadline = Date.now() + 30_000;
  while (!(await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${name} did not start (build first: npm run build)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

/** Start registry, (optionally) twin, messaging and routing, and gateway as processes. */
export async function startBenchHub(opts: {
  twin: boolean;
  messaging?: boolean;
  routing?: boolean;
  routingEnv?: Record<string, string>;
  jobs?: boolean;
  jobsEnv?: Record<string, string>;
  twinEnv?: Record<string, string>;
  provisioning?: boolean;
  provisioningEnv?: Record<string, string>;
  /** Gateway processes (default 1), each on ports of its own. */
  gateways?: number;
}): Promise<BenchHub> {
  const children: ChildProcess[] = [];
  const hub = uniqueName('bench');
  const certs = await ensureDevCertificates(mkdtempSync(join(tmpdir(), 'oih-bench-')));
  const [registryGrpc, twinGrpc, regAdmin, twinAdmin, gwAdmin, httpsPort, mqttPort, messagingGrpc, messagingAdmin, amqpPort] = (await Promise.all(Array.from({ length: 10 }, () => freePort()))) as [
    number, number, number, number, number, number, number, number, number, number,
  ];
  // a failed start must not leave processes behind (an orphaned routing process would keep leases)
  const started = (async () => {
    const common = { DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1' };
    await startService(children, 'registry', { ...common, GRPC_PORT: String(registryGrpc), DEFAULT_HUB: hub }, regAdmin);
    const twin = opts.twin ? await startService(children, 'twin', { ...common, GRPC_PORT: String(twinGrpc), REGISTRY_GRPC_URL: `127.0.0.1:${registryGrpc}`, DATABASE_POOL_SIZE: process.env['TWIN_POOL'] ?? '20', ...opts.twinEnv }, twinAdmin) : undefined;
    const messaging = opts.messaging
      ? await startService(children, 'messaging', { ...common, REDIS_URL: urls.redisUrl, GRPC_PORT: String(messagingGrpc), REGISTRY_GRPC_URL: `127.0.0.1:${registryGrpc}` }, messagingAdmin)
      : undefined;
    const [routingGrpc, routingAdmin] = await Promise.all([freePort(), freePort()]);
    const routing = opts.routing
      ? await startService(
          children,
          'routing',
          { ...common, REDIS_URL: urls.redisUrl, GRPC_PORT: String(routingGrpc), REGISTRY_GRPC_URL: `127.0.0.1:${registryGrpc}`, TWIN_GRPC_URL: `127.0.0.1:${twinGrpc}`, ROUTING_HUBS: hub, ...opts.routingEnv },
          routingAdmin,
        )
      : undefined;
    const [jobsGrpc, jobsAdmin] = await Promise.all([freePort(), freePort()]);
    const jobs = opts.jobs
      ? await startService(
          children,
          'jobs',
          { ...common, GRPC_PORT: String(jobsGrpc), REGISTRY_GRPC_URL: `127.0.0.1:${registryGrpc}`, TWIN_GRPC_URL: `127.0.0.1:${twinGrpc}`, JOBS_HUBS: hub, ...opts.jobsEnv },
          jobsAdmin,
        )
      : undefined;
    const [provisioningGrpc, provisioningAdmin] = await Promise.all([freePort(), freePort()]);
    const provisioning = opts.provisioning
      ? await startService(
          children,
          'provisioning',
          { DATABASE_URL: urls.databaseUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(provisioningGrpc), REGISTRY_GRPC_URL: `127.0.0.1:${registryGrpc}`, TWIN_GRPC_URL: `127.0.0.1:${twinGrpc}`, ...opts.provisioningEnv },
          provisioningAdmin,
        )
      : undefined;
    const gatewayEnv = (ports: { https: number; mqtt: number; amqp: number }) => ({
      HTTPS_HOST: '127.0.0.1', HTTPS_PORT: String(ports.https), MQTT_HOST: '127.0.0.1', MQTT_PORT: String(ports.mqtt), AMQP_HOST: '127.0.0.1', AMQP_PORT: String(ports.amqp),
      TLS_CERT_PATH: certs.serverCertPath, TLS_KEY_PATH: certs.serverKeyPath,
      REGISTRY_GRPC_URL: `127.0.0.1:${registryGrpc}`, TWIN_GRPC_URL: `127.0.0.1:${twinGrpc}`, MESSAGING_GRPC_URL: `127.0.0.1:${messagingGrpc}`, ROUTING_GRPC_URL: `127.0.0.1:${routingGrpc}`, JOBS_GRPC_URL: `127.0.0.1:${jobsGrpc}`,
      NATS_URL: urls.natsUrl, REDIS_URL: urls.redisUrl, DEFAULT_HUB: hub,
      ...(provisioning ? { PROVISIONING_GRPC_URL: `127.0.0.1:${provisioningGrpc}`, DEFAULT_DPS: hub } : {}),
    });
    const gateway = await startService(children, 'gateway', gatewayEnv({ https: httpsPort, mqtt: mqttPort, amqp: amqpPort }), gwAdmin);
    const more = [];
    for (let i = 1; i < (opts.gateways ?? 1); i += 1) {
      const [https, mqtt, amqp, admin] = (await Promise.all(Array.from({ length: 4 }, () => freePort()))) as [number, number, number, number];
      const child = await startService(children, 'gateway', gatewayEnv({ https, mqtt, amqp }), admin);
      more.push({ pid: child.pid as number, mqttPort: mqtt, httpsPort: https, amqpPort: amqp });
    }
    const gateways = [{ pid: gateway.pid as number, mqttPort, httpsPort, amqpPort }, ...more];
    return { messaging, routing, gateway, gateways, routingGrpc, jobs, jobsGrpc, twin, provisioning, provisioningGrpc };
  })();
  const { messaging, routing, gateway, gateways, routingGrpc, jobs, jobsGrpc, twin, provisioning, provisioningGrpc } = await started.catch((err: unknown) => {
    for (const c of children) c.kill('SIGKILL');
    throw err;
  });
  return {
    hub,
    ca: readFileSync(certs.caCertPath),
    mqttPort,
    httpsPort,
    amqpPort,
    gatewayPid: gateway.pid as number,
    gatewayAdminPort: gwAdmin,
    gateways,
    registryGrpc,
    twinGrpc,
    messagingPid: messaging?.pid,
    routingPid: routing?.pid,
    routingGrpc,
    jobsPid: jobs?.pid,
    twinPid: twin?.pid,
    jobsGrpc,
    provisioningPid: provisioning?.pid,
    provisioningGrpc,
    async ownerToken() {
      const registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, `127.0.0.1:${registryGrpc}`);
      const p = (await registry.getPolicy({ hub, keyName: 'iothubowner' })).policy!;
      registry.close();
      return createSasToken({ resourceUri: 'localhost', key: p.primaryKey, keyName: 'iothubowner', expiry: Math.floor(Date.now() / 1000) + 7200, encode: false });
    },
    async stop() {
      await Promise.all(
        children.map((c) => {
          if (c.exitCode !== null) return undefined;
          const exited = new Promise((r) => c.once('exit', r));
          c.kill('SIGTERM');
          return exited;
        }),
      );
    },
  };
}

/** Register `n` devices (bulk API, 100 at a time) all with {@link KEY}; returns their ids. */
export async function registerDevices(h: BenchHub, n: number): Promise<string[]> {
  const registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, `127.0.0.1:${h.registryGrpc}`);
  const ids = Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(6, '0')}`);
  for (let i = 0; i < ids.length; i += 100) {
    await registry.bulkDevices({
      hub: h.hub,
      operations: ids.slice(i, i + 100).map((deviceId) =>
        registryV1.BulkDeviceOperation.fromPartial({ importMode: 'create', device: { deviceId, authentication: { type: 'sas', symmetricKey: { primaryKey: KEY, secondaryKey: KEY } } } }),
      ),
    });
  }
  registry.close();
  return ids;
}

/** Connect one device over MQTT/TLS (mqtt.js, 3.1.1, clean session off), to the first gateway or the given port. */
export function connectDevice(h: BenchHub, deviceId: string, keepalive = 60, port = h.mqttPort): Promise<MqttClient> {
  const password = createSasToken({ resourceUri: `localhost/devices/${deviceId}`, key: KEY, expiry: Math.floor(Date.now() / 1000) + 7200 });
  return new Promise((res, rej) => {
    const c = mqtt.connect({ protocol: 'mqtts', host: 'localhost', port, ca: h.ca, protocolVersion: 4, clean: false, clientId: deviceId, username: `localhost/${deviceId}/?api-version=2021-04-12`, password, reconnectPeriod: 0, keepalive });
    c.once('connect', () => res(c));
    c.once('error', rej);
  });
}

/** Run `fn` for 0..n-1, `batch` at a time. */
export async function inBatches<T>(n: number, batch: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => fn(i + j)))));
  return out;
}

/** A keep-alive HTTPS client for the hub's REST API. */
/** A keep-alive HTTPS client for the hub's REST API, through the first gateway or the one on `port`. */
export function restClient(h: BenchHub, token: string, port = h.httpsPort) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: h.ca });
  return {
    send(method: string, path: string, body: unknown, extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: string }> {
      const payload = Buffer.from(JSON.stringify(body));
      return new Promise((resolveReq, reject) => {
        const req = request(
          { host: 'localhost', port, method, path: `${path}?api-version=2021-04-12`, agent, headers: { authorization: token, 'content-type': 'application/json', 'content-length': payload.length, 'if-match': '"*"', ...extraHeaders } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolveReq({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    },
    close: () => agent.destroy(),
  };
}

/** Drive `op` with `concurrency` loops for `seconds`; latencies in ms, sorted. */
export async function closedLoop(seconds: number, concurrency: number, op: (i: number) => Promise<void>): Promise<{ count: number; latencies: number[] }> {
  const end = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const i = n++;
        const t = performance.now();
        await op(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, latencies };
}

/**
 * Start `op` at `rate` per second for `seconds`, whether earlier calls have finished or not (an
 * open loop), and time each from when it was due, so a stall shows in the latencies instead of
 * slowing the load (no coordinated omission). Latencies in ms, sorted.
 */
export async function openLoop(seconds: number, rate: number, op: (i: number) => Promise<void>): Promise<{ count: number; latencies: number[]; failed: number }> {
  const start = performance.now();
  const total = Math.round(seconds * rate);
  const latencies: number[] = [];
  const running: Promise<void>[] = [];
  let failed = 0;
  for (let i = 0; i < total; ) {
    const now = performance.now();
    for (; i < total && start + (i * 1000) / rate <= now; i++) {
      const due = start + (i * 1000) / rate;
      running.push(op(i).then(() => void latencies.push(performance.now() - due), () => void failed++));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(running);
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, latencies, failed };
}

/**
 * The load schedule of the MQTT benchmarks: each client keeps `inFlight` publishes outstanding
 * (or, with `rate`, sends what a schedule of `rate` msg/s over all clients says, every 5 ms) for
 * `seconds`; resolves when every publish has been answered. `publish` sends one message and calls
 * `after` when it is answered.
 */
export async function schedule<C>(clients: C[], opts: { seconds: number; inFlight: number; rate?: number }, publish: (c: C, after: () => void) => void): Promise<void> {
  const end = performance.now() + opts.seconds * 1000;
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((done) => {
          let outstanding = 0;
          if (!opts.rate) {
            const send = () => {
              if (performance.now() >= end) return outstanding === 0 ? done() : undefined;
              outstanding++;
              publish(c, () => (outstanding--, send()));
            };
            for (let i = 0; i < opts.inFlight; i++) send();
            return;
          }
          const perClient = opts.rate / clients.length;
          const start = performance.now();
          let sent = 0;
          const tick = setInterval(() => {
            const now = performance.now();
            const due = Math.floor(((now - start) / 1000) * perClient);
            while (sent < due && now < end) {
              sent++;
              outstanding++;
              publish(c, () => outstanding--);
            }
            if (now >= end && outstanding === 0) {
              clearInterval(tick);
              done();
            }
          }, 5);
        }),
    ),
  );
}
