import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createServer, connect as netConnect } from 'node:net';
import { openStream, serveStreams, serveTcpTunnels, type StreamRequest } from '@openiothub/stream-client';
import { freePort, startServiceProcess, testUrls, type ServiceProcess } from '@openiothub/testing';
import { createDevice, identityToken, rawConnect, usernameOf, type TestIdentity } from './devices.js';
import { hub, hubFetch, poll } from './helpers.js';

// Device streams (seeds-protocols-ops §2, scenarios 33–34): the device answers over MQTT with the
// TypeScript stream client, both sides meet at the relay. The Node service SDK has no stream API
// (streams-preview only), so the service side is the REST call and the same client.

const ca = () => readFileSync(hub().caCertPath);
const started: ServiceProcess[] = [];
afterAll(async () => {
  for (const p of started) await p.stop();
});

async function streamingDevice(d: TestIdentity, accept = true, connect = true): Promise<{ sockets: Duplex[]; requests: StreamRequest[]; close(): void }> {
  const mqtt = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d) });
  const sockets: Duplex[] = [];
  const requests: StreamRequest[] = [];
  await serveStreams(
    mqtt,
    () => accept,
    (req) => {
      requests.push(req);
      if (!connect) return;
      void openStream(req.url, req.authorizationToken, { ca: ca() }).then((s) => {
        sockets.push(s);
        s.pipe(s); // echo
      });
    },
  );
  return { sockets, requests, close: () => mqtt.end(true) };
}

async function initiate(deviceId: string, name = 'TestStream', body: unknown = { responseTimeoutInSeconds: 10 }) {
  const res = await hubFetch(`/twins/${deviceId}/streams/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { isAccepted: boolean; uri: string; authorizationToken: string; streamName: string; Message?: string } };
}

/** Send `bytes` and read back as many; resolves the sha256 of what came back. */
function roundTrip(s: Duplex, bytes: Buffer): Promise<string> {
  return new Promise((resolveHash, reject) => {
    const hash = createHash('sha256');
    let got = 0;
    s.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      got += chunk.length;
      if (got >= bytes.length) resolveHash(hash.digest('hex'));
    });
    s.once('error', reject);
    for (let i = 0; i < bytes.length; i += 64 * 1024) s.write(bytes.subarray(i, i + 64 * 1024));
  });
}

describe('device streams (scenario 33)', () => {
  it('echoes 10 MB intact through the relay; closing one side closes the other', async () => {
    const d = await createDevice('streamer');
    const device = await streamingDevice(d);
    try {
      const r = await initiate(d.deviceId);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ isAccepted: true, streamName: 'TestStream', uri: expect.stringMatching(new RegExp(`^wss://.+/bridges/${hub().hub}/${d.deviceId}/[0-9a-f]{32}$`)) });
      expect(device.requests[0]!.name).toBe('TestStream');
      const s = await openStream(r.body.uri, r.body.authorizationToken, { ca: ca() });
      const data = randomBytes(10 * 1024 * 1024);
      expect(await roundTrip(s, data)).toBe(createHash('sha256').update(data).digest('hex'));
      const deviceClosed = new Promise<void>((res) => device.sockets[0]!.once('close', () => res()));
      s.destroy();
      await deviceClosed;
      // a token opens one connection only
      await expect(openStream(r.body.uri, r.body.authorizationToken, { ca: ca() })).rejects.toThrow(/HTTP 401/);
    } finally {
      device.close();
    }
  });

  it('tells the service when the device rejects, is offline, or never reaches the relay', async () => {
    const rejecting = await createDevice('rejects');
    const dev = await streamingDevice(rejecting, false);
    try {
      expect((await initiate(rejecting.deviceId)).body).toMatchObject({ isAccepted: false, authorizationToken: '' });
    } finally {
      dev.close();
    }
    const offline = await createDevice('offline');
    const t = Date.now();
    const off = await initiate(offline.deviceId);
    expect(off.status).toBe(404);
    expect(off.body.Message).toMatch(/^ErrorCode:DeviceNotOnline;/);
    expect(Date.now() - t).toBeLessThan(5000);

    // accepted, but the device never connects: the service side is closed at the handshake limit (3 s here)
    const silent = await createDevice('silent');
    const quiet = await streamingDevice(silent, true, false);
    try {
      const r = await initiate(silent.deviceId);
      const s = await openStream(r.body.uri, r.body.authorizationToken, { ca: ca() });
      s.resume(); // read, so the relay's close arrives as the end of the stream
      await new Promise<void>((res) => s.once('close', () => res()));
    } finally {
      quiet.close();
    }
    // a forged token is refused
    const again = await createDevice('forged');
    const bad = await streamingDevice(again);
    try {
      const r = await initiate(again.deviceId);
      await expect(openStream(r.body.uri, `${r.body.authorizationToken.slice(0, -4)}AAAA`, { ca: ca() })).rejects.toThrow(/HTTP 401/);
    } finally {
      bad.close();
    }
  });

  it('pairs the two sides when they are opened at once', async () => {
    const d = await createDevice('together');
    const device = await streamingDevice(d, true, false);
    try {
      const r = await initiate(d.deviceId);
      const req = device.requests[0]!;
      const [dev, svc] = await Promise.all([openStream(req.url, req.authorizationToken, { ca: ca() }), openStream(r.body.uri, r.body.authorizationToken, { ca: ca() })]);
      dev.pipe(dev);
      const data = randomBytes(256 * 1024);
      expect(await roundTrip(svc, data)).toBe(createHash('sha256').update(data).digest('hex'));
      svc.destroy();
    } finally {
      device.close();
    }
  });

  it('joins the two sides when they reach different streams processes', async () => {
    const [grpc, admin, relay] = await Promise.all([freePort(), freePort(), freePort()]);
    const certs = join(resolve(hub().caCertPath, '..'));
    const urls = testUrls();
    started.push(
      await startServiceProcess({
        entry: join(resolve(import.meta.dirname, '../..'), 'services', 'streams', 'dist', 'main.js'),
        adminPort: admin,
        env: {
          REDIS_URL: urls.redisUrl,
          GRPC_HOST: '127.0.0.1',
          GRPC_PORT: String(grpc),
          RELAY_HOST: '127.0.0.1',
          RELAY_PORT: String(relay),
          TLS_CERT_PATH: join(certs, 'server.pem'),
          TLS_KEY_PATH: join(certs, 'server-key.pem'),
          RELAY_CA_PATH: hub().caCertPath,
          STREAMS_TOKEN_SECRET: 'e2e-streams-secret-0123456789abcdef',
        },
      }),
    );
    const d = await createDevice('twoproc');
    const device = await streamingDevice(d);
    try {
      const r = await initiate(d.deviceId);
      // the device used the hub's relay; the service goes to the second process
      const elsewhere = r.body.uri.replace(/:\d+\/bridges\//, `:${relay}/bridges/`);
      expect(elsewhere).not.toBe(r.body.uri);
      await new Promise((res) => setTimeout(res, 300)); // let the device side arrive first
      const s = await openStream(elsewhere, r.body.authorizationToken, { ca: ca() });
      const data = randomBytes(1024 * 1024);
      expect(await roundTrip(s, data)).toBe(createHash('sha256').update(data).digest('hex'));
      s.destroy();
    } finally {
      device.close();
    }
  });

  it('tunnels TCP through iothub stream proxy to a port on the device (scenario 34)', async () => {
    // the "device" runs a TCP echo server and the stream client's tunnel agent
    const echo = createServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const echoPort = (echo.address() as { port: number }).port;
    const d = await createDevice('tunnel');
    const mqtt = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d) });
    await serveTcpTunnels(mqtt, { ports: [echoPort], ca: ca() });
    const localPort = await freePort();
    const stop = new AbortController();
    const { runCli } = await import('@openiothub/cli');
    let err = '';
    const h = hub();
    const proxy = runCli(['--login', h.ownerConnectionString, '--ca', h.caCertPath, 'stream', 'proxy', '-d', d.deviceId, '--local-port', String(localPort), '--remote-port', String(echoPort)], {
      out: () => undefined,
      err: (t) => void (err += t),
      env: { OPENIOTHUB_LOCAL_HUB: '/nonexistent' },
      signal: stop.signal,
    });
    try {
      await poll(async () => err, (e) => e.includes('listening on'), 10_000, 'the proxy to listen');
      // two connections, two streams, each an independent tunnel
      for (const text of ['SSH-2.0-OpenSSH_9.6\r\n', 'second connection']) {
        const sock = netConnect(localPort, '127.0.0.1');
        const back = await new Promise<string>((resolveText, reject) => {
          let got = '';
          sock.on('data', (c: Buffer) => {
            got += c.toString();
            if (got.length >= text.length) resolveText(got);
          });
          sock.once('error', reject);
          sock.write(text);
        });
        expect(back).toBe(text);
        sock.destroy();
      }
      // a port the device does not allow is refused
      expect((await initiate(d.deviceId, 'port-1')).body.isAccepted).toBe(false);
    } finally {
      stop.abort();
      expect(await proxy).toBe(0);
      mqtt.end(true);
      echo.close();
    }
  });
});
