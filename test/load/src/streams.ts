/**
 * `npm run bench:streams`: device-stream relay throughput (MB/s each way, one stream, and several
 * at once) and the latency it adds (64-byte ping-pong p50/p99), beside a direct TCP connection on
 * the same machine in the same run. The relay is a streams process started from the build; both
 * stream sides are opened with their tokens (the gateway's MQTT signalling is not on this path).
 * Env: MB (200 per direction), STREAMS (4 parallel), PINGS (2000).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { ensureDevCertificates } from '@openiothub/local';
import { connectClient, streamsV1 } from '@openiothub/proto';
import { openStream } from '@openiothub/stream-client';
import { freePort, startServiceProcess } from '@openiothub/testing';
import { int, log, root, urls } from './harness.js';
import { percentile, processUsage, table } from './stats.js';

const cfg = { mb: int('MB', 200), streams: int('STREAMS', 4), pings: int('PINGS', 2000) };
const CHUNK = 64 * 1024;

/** Write `bytes` into `a` as fast as it takes them; resolves when `b` has read them all (seconds). */
function pump(a: Duplex | Socket, b: Duplex | Socket, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = randomBytes(CHUNK);
    const t0 = performance.now();
    let got = 0;
    const onData = (c: Buffer) => {
      got += c.length;
      if (got >= bytes) {
        b.off('data', onData);
        resolve((performance.now() - t0) / 1000);
      }
    };
    b.on('data', onData);
    b.once('error', reject);
    let sent = 0;
    const write = () => {
      while (sent < bytes) {
        sent += CHUNK;
        if (!a.write(chunk)) return void a.once('drain', write);
      }
    };
    write();
  });
}

/** 64-byte ping-pong: `a` sends, `b` echoes; round-trip latencies in ms, sorted. */
async function pingPong(a: Duplex | Socket, b: Duplex | Socket, n: number): Promise<number[]> {
  const echo = (c: Buffer) => b.write(c);
  b.on('data', echo);
  const ping = Buffer.alloc(64, 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((resolve) => {
      let got = 0;
      const on = (c: Buffer) => {
        got += c.length;
        if (got >= 64) {
          a.off('data', on);
          resolve();
        }
      };
      a.on('data', on);
      a.write(ping);
    });
    out.push(performance.now() - t);
  }
  b.off('data', echo);
  return out.sort((x, y) => x - y);
}

async function tcpPair(): Promise<{ a: Socket; b: Socket; close(): void }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const a = netConnect((server.address() as { port: number }).port, '127.0.0.1');
  const b = await accepted;
  return { a, b, close: () => (a.destroy(), b.destroy(), server.close()) };
}

async function main() {
  log(`bench:streams mb=${cfg.mb} streams=${cfg.streams} pings=${cfg.pings}`);
  const certs = await ensureDevCertificates(mkdtempSync(join(tmpdir(), 'oih-streams-bench-')));
  const [grpc, admin, relayPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const relay = await startServiceProcess({
    entry: join(root, 'services', 'streams', 'dist', 'main.js'),
    adminPort: admin,
    env: {
      REDIS_URL: urls.redisUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpc),
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: String(relayPort),
      TLS_CERT_PATH: certs.serverCertPath,
      TLS_KEY_PATH: certs.serverKeyPath,
      RELAY_CA_PATH: certs.caCertPath,
      STREAMS_TOKEN_SECRET: randomBytes(32).toString('hex'),
      STREAMS_MAX_PER_HUB: '1000',
    },
  });
  const ca = readFileSync(certs.caCertPath);
  const streams = connectClient(streamsV1.StreamsServiceClient, streamsV1.StreamsServiceService, `127.0.0.1:${grpc}`);
  const hub = `bench-streams-${Date.now()}`;
  const open = async (i: number) => {
    const s = await streams.createStream({ hub, deviceId: `dev${i}`, streamName: 'bench' });
    const device = openStream(s.uri, s.deviceToken, { ca });
    const service = openStream(s.uri, s.serviceToken, { ca });
    return { device: await device, service: await service };
  };
  try {
    const bytes = cfg.mb * 1024 * 1024;
    const rows: Array<Record<string, string | number>> = [];
    const mbps = (b: number, s: number) => b / 1024 / 1024 / s;

    const tcp = await tcpPair();
    const tUp = await pump(tcp.a, tcp.b, bytes);
    const tDown = await pump(tcp.b, tcp.a, bytes);
    const tLat = await pingPong(tcp.a, tcp.b, cfg.pings);
    tcp.close();
    rows.push({ path: 'baseline: direct TCP (loopback, no TLS)', 'MB/s →': mbps(bytes, tUp), 'MB/s ←': mbps(bytes, tDown), 'rtt p50 ms': percentile(tLat, 50), 'rtt p99 ms': percentile(tLat, 99), 'relay CPU s': '', 'relay RSS MB': '' });

    const before = await processUsage(relay.child.pid!);
    const one = await open(0);
    const rUp = await pump(one.service, one.device, bytes);
    const rDown = await pump(one.device, one.service, bytes);
    const rLat = await pingPong(one.service, one.device, cfg.pings);
    const after = await processUsage(relay.child.pid!);
    one.service.destroy();
    rows.push({
      path: 'relay: one stream (wss both sides)',
      'MB/s →': mbps(bytes, rUp),
      'MB/s ←': mbps(bytes, rDown),
      'rtt p50 ms': percentile(rLat, 50),
      'rtt p99 ms': percentile(rLat, 99),
      'relay CPU s': after.cpuSeconds - before.cpuSeconds,
      'relay RSS MB': after.rssBytes / 1024 / 1024,
    });

    const many = await Promise.all(Array.from({ length: cfg.streams }, (_, i) => open(i + 1)));
    const per = Math.floor(bytes / cfg.streams);
    const b2 = await processUsage(relay.child.pid!);
    const t0 = performance.now();
    await Promise.all(many.map((p) => pump(p.service, p.device, per)));
    const seconds = (performance.now() - t0) / 1000;
    const a2 = await processUsage(relay.child.pid!);
    for (const p of many) p.service.destroy();
    rows.push({ path: `relay: ${cfg.streams} streams at once (total)`, 'MB/s →': mbps(per * cfg.streams, seconds), 'MB/s ←': '', 'rtt p50 ms': '', 'rtt p99 ms': '', 'relay CPU s': a2.cpuSeconds - b2.cpuSeconds, 'relay RSS MB': a2.rssBytes / 1024 / 1024 });

    const out = table(`Device-stream relay vs direct TCP (${cfg.mb} MB each way, 64-byte ping-pong ×${cfg.pings})`, rows);
    process.stdout.write(out);
    mkdirSync(join(root, '.data'), { recursive: true });
    writeFileSync(join(root, '.data', 'bench-streams.txt'), out);
  } finally {
    streams.close();
    await relay.stop();
  }
}

await main();
