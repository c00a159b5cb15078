import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { createSasToken } from '@openiothub/auth';
import { grpc, promiseClient, registryV1 } from '@openiothub/proto';
import { freePort, testUrls, uniqueName } from '@openiothub/testing';
import { ensureDevCertificates } from '../src/index.js';

// Each service runs as its own process from its built entry point, configured only by env.
const root = resolve(import.meta.dirname, '../../..');
const entry = (name: string) => join(root, 'services', name, 'dist', 'main.js');
const urls = testUrls();
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function start(name: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [entry(name)], { env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout?.resume();
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, stderr: () => stderr };
}

async function waitReady(adminPort: number, exited: Promise<unknown>, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let done = false;
  void exited.then(() => (done = true));
  while (Date.now() < deadline && !done) {
    const ok = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`service on admin port ${adminPort} did not become ready`);
}

describe('services as separate processes', () => {
  it('needs the build', () => {
    for (const name of ['registry', 'messaging', 'gateway']) {
      expect(existsSync(entry(name)), `${entry(name)} is missing: run the build (npm test does) first`).toBe(true);
    }
  });

  it('registry, messaging and gateway run from env, serve a request together, and exit 0 on SIGTERM', async () => {
    const hub = uniqueName('proc');
    const [grpcPort, regAdmin, gwAdmin, httpsPort, mqttPort, msgGrpc, msgAdmin, amqpPort] = (await Promise.all(Array.from({ length: 8 }, () => freePort()))) as [number, number, number, number, number, number, number, number];
    const registry = start('registry', {
      DATABASE_URL: urls.databaseUrl,
      NATS_URL: urls.natsUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      ADMIN_PORT: String(regAdmin),
      DEFAULT_HUB: hub,
    });
    await waitReady(regAdmin, registry.exited);
    const messaging = start('messaging', {
      DATABASE_URL: urls.databaseUrl,
      NATS_URL: urls.natsUrl,
      REDIS_URL: urls.redisUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(msgGrpc),
      ADMIN_PORT: String(msgAdmin),
      REGISTRY_GRPC_URL: `127.0.0.1:${grpcPort}`,
    });
    await waitReady(msgAdmin, messaging.exited);
    const certs = await ensureDevCertificates(mkdtempSync(join(tmpdir(), 'oih-certs-')));
    const gateway = start('gateway', {
      HTTPS_HOST: '127.0.0.1',
      HTTPS_PORT: String(httpsPort),
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: String(mqttPort),
      AMQP_HOST: '127.0.0.1',
      AMQP_PORT: String(amqpPort),
      NATS_URL: urls.natsUrl,
      REDIS_URL: urls.redisUrl,
      ADMIN_PORT: String(gwAdmin),
      TLS_CERT_PATH: certs.serverCertPath,
      TLS_KEY_PATH: certs.serverKeyPath,
      REGISTRY_GRPC_URL: `127.0.0.1:${grpcPort}`,
      MESSAGING_GRPC_URL: `127.0.0.1:${msgGrpc}`,
      DEFAULT_HUB: hub,
    });
    await waitReady(gwAdmin, gateway.exited);

    const raw = new registryV1.RegistryServiceClient(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const owner = (await promiseClient(raw, registryV1.RegistryServiceService).getPolicy({ hub, keyName: 'iothubowner' })).policy!;
    raw.close();
    const token = createSasToken({ resourceUri: 'localhost', key: owner.primaryKey, keyName: 'iothubowner', expiry: Math.floor(Date.now() / 1000) + 600, encode: false });
    const status = await new Promise<number>((res, rej) => {
      const body = JSON.stringify({ deviceId: 'd1' });
      const req = request(
        { host: 'localhost', port: httpsPort, method: 'PUT', path: '/devices/d1?api-version=2021-04-12', ca: readFileSync(certs.caCertPath), headers: { authorization: token, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (r) => {
          r.resume();
          res(r.statusCode ?? 0);
        },
      );
      req.on('error', rej);
      req.end(body);
    });
    expect(status).toBe(200);

    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    messaging.child.kill('SIGTERM');
    expect(await messaging.exited).toBe(0);
    registry.child.kill('SIGTERM');
    expect(await registry.exited).toBe(0);
  });

  it('refuses to start with bad config, listing every problem', async () => {
    const bad = start('registry', { GRPC_PORT: 'not-a-port', ADMIN_PORT: '70000' });
    expect(await bad.exited).toBe(2);
    const err = bad.stderr();
    for (const key of ['DATABASE_URL', 'NATS_URL', 'GRPC_PORT', 'ADMIN_PORT']) expect(err).toContain(key);
  });
});
