/**
 * `npm run fuzz`: seeded, reproducible hostile input against a running gateway process (from the
 * build): mutated MQTT packets, HTTP requests and AMQP frames over TLS, while a well-formed device
 * keeps sending QoS 1 telemetry. Passes when the gateway never exits, stays ready, every canary
 * message is acknowledged, and its memory settles. Prints the counts (docs/security.md).
 * Env: SEED (1), MQTT (40000), HTTP (40000), AMQP (30000) inputs; PER_CONNECTION (25).
 */
import { connect, type TLSSocket } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createSasToken } from '@openiothub/auth';
import { connectDevice, int, KEY, log, registerDevices, startBenchHub, type BenchHub } from './harness.js';
import { processUsage, table } from './stats.js';

const cfg = { seed: int('SEED', 1), mqtt: int('MQTT', 40_000), http: int('HTTP', 40_000), amqp: int('AMQP', 30_000), perConnection: int('PER_CONNECTION', 25) };

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(cfg.seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));

/** Flip bits, cut, grow, splice random bytes or set length-like bytes to extremes. */
function mutate(input: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + Math.floor(rand() * 4);
  for (let r = 0; r < rounds; r += 1) {
    const at = Math.floor(rand() * Math.max(1, b.length));
    switch (Math.floor(rand() * 6)) {
      case 0:
        if (b.length > 0) b[at] = b[at]! ^ (1 << Math.floor(rand() * 8));
        break;
      case 1:
        b = b.subarray(0, at);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), bytes(1 + Math.floor(rand() * 64)), b.subarray(at)]);
        break;
      case 3:
        if (b.length > 0) b[at] = pick([0x00, 0xff, 0x7f, 0x80]);
        break;
      case 4:
        b = Buffer.concat([b, b.subarray(0, Math.floor(rand() * b.length))]);
        break;
      default:
        if (b.length > 4) b.writeUInt32BE(pick([0, 0xffffffff, 0x7fffffff, 65536, 8]), Math.min(at, b.length - 4));
    }
  }
  return b;
}

function mqttSeeds(deviceId: string, password: string): Buffer[] {
  const packets: Packet[] = [
    { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: deviceId, keepalive: 60, username: `localhost/${deviceId}/?api-version=2021-04-12`, password: Buffer.from(password) },
    { cmd: 'publish', topic: `devices/${deviceId}/messages/events/a=1&%24.mid=x`, payload: Buffer.from('{"t":1}'), qos: 1, messageId: 7, retain: false, dup: false },
    { cmd: 'publish', topic: '$iothub/twin/GET/?$rid=1', payload: Buffer.from(' '), qos: 0, retain: false, dup: false },
    { cmd: 'publish', topic: '$iothub/twin/PATCH/properties/reported/?$rid=2', payload: Buffer.from('{"a":{"b":[1,2]}}'), qos: 0, retain: false, dup: false },
    { cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: `devices/${deviceId}/messages/devicebound/#`, qos: 1 }, { topic: '$iothub/methods/POST/#', qos: 0 }] },
    { cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['$iothub/twin/res/#'] },
    { cmd: 'pingreq' },
    { cmd: 'puback', messageId: 9 },
  ];
  return packets.map((p) => mqttPacket.generate(p));
}

function httpSeeds(deviceId: string, deviceToken: string, ownerToken: string): Buffer[] {
  const req = (method: string, path: string, token: string, body = '', extra = '') =>
    Buffer.from(`${method} ${path}?api-version=2021-04-12 HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
  return [
    req('POST', `/devices/${deviceId}/messages/events`, deviceToken, '{"t":1}', 'iothub-app-a: 1\r\n'),
    req('GET', `/devices/${deviceId}/messages/devicebound`, deviceToken),
    req('PUT', `/devices/fz-${Math.floor(rand() * 1e6)}`, ownerToken, '{"deviceId":"x","status":"enabled"}', 'If-Match: *\r\n'),
    req('POST', '/devices/query', ownerToken, '{"query":"SELECT * FROM devices WHERE tags.a.b = 1"}'),
    req('PATCH', `/twins/${deviceId}`, ownerToken, '{"tags":{"x":{"y":[1,{"z":null}]}}}', 'If-Match: *\r\n'),
    req('POST', `/twins/${deviceId}/methods`, ownerToken, '{"methodName":"m","payload":{"a":1},"responseTimeoutInSeconds":5}'),
    req('POST', '/0ne00000000/registrations/r/register', 'SharedAccessSignature sr=x&sig=y&se=1', '{"registrationId":"r"}'),
  ];
}

/** An AMQP protocol header followed by frames: open, begin, attach and a transfer with random payloads. */
function amqpSeeds(): Buffer[] {
  const header = Buffer.from('AMQP\x00\x01\x00\x00', 'latin1');
  const frame = (type: number, channel: number, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(8 + body.length, 0);
    h[4] = 2;
    h[5] = type;
    h.writeUInt16BE(channel, 6);
    return Buffer.concat([h, body]);
  };
  // performatives: 0x10 open, 0x11 begin, 0x12 attach, 0x14 transfer (described lists)
  const described = (code: number, fields: Buffer) => Buffer.concat([Buffer.from([0x00, 0x53, code, 0xc0, fields.length + 1, 3]), fields]);
  const str = (s: string) => Buffer.concat([Buffer.from([0xa1, s.length]), Buffer.from(s)]);
  return [
    Buffer.concat([header, frame(0, 0, described(0x10, Buffer.concat([str('fuzz'), str('localhost'), Buffer.from([0x40])])))]),
    Buffer.concat([header, frame(0, 0, described(0x11, Buffer.concat([Buffer.from([0x40, 0x43, 0x70, 0, 0, 0, 100])])))]),
    Buffer.concat([header, frame(0, 0, described(0x12, Buffer.concat([str('link'), Buffer.from([0x43, 0x41]), str('$cbs')])))]),
    Buffer.concat([header, frame(0, 0, described(0x14, Buffer.concat([Buffer.from([0x43, 0x43]), bytes(32)])))]),
  ];
}

/** Open a TLS connection, write inputs one after another (stopping if the server closes), then drop it. */
async function blast(port: number, ca: Buffer, inputs: Buffer[]): Promise<{ closedByServer: boolean; stalled: boolean }> {
  return new Promise((resolve) => {
    let closedByServer = false;
    let connected = false;
    const s: TLSSocket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      connected = true;
      for (const b of inputs) {
        if (s.destroyed) break;
        s.write(b);
      }
      setTimeout(() => s.destroy(), 30);
    });
    // a handshake that does not finish in 5 s counts as stalled (the gateway stopped accepting)
    const guard = setTimeout(() => s.destroy(), 5_000);
    s.on('data', () => undefined);
    s.on('end', () => (closedByServer = true));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(guard);
      resolve({ closedByServer, stalled: !connected });
    });
  });
}

async function fuzzProtocol(name: string, total: number, port: number, h: BenchHub, seeds: () => Buffer[]): Promise<Record<string, string | number>> {
  const t0 = performance.now();
  let connections = 0;
  let closed = 0;
  let stalled = 0;
  let sent = 0;
  while (sent < total) {
    // 8 connections at a time, each with its own mutated inputs; half of them start with a valid
    // first input, so mutations also reach the states after CONNECT / Open
    const batches = Array.from({ length: 8 }, () => {
      const batch = Array.from({ length: cfg.perConnection }, () => mutate(pick(seeds())));
      return rand() < 0.5 ? [seeds()[0]!, ...batch] : batch;
    });
    const parallel = await Promise.all(batches.map((b) => blast(port, h.ca, b)));
    connections += parallel.length;
    closed += parallel.filter((r) => r.closedByServer).length;
    stalled += parallel.filter((r) => r.stalled).length;
    if (connections % 400 === 0 || process.env["FUZZ_TRACE"]) log(`${name}: ${sent} inputs, ${connections} connections, ${stalled} stalled, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    sent += batches.reduce((n, b) => n + b.length, 0);
  }
  return { protocol: name, inputs: sent, connections, 'closed by gateway': closed, 'handshakes stalled': stalled, seconds: (performance.now() - t0) / 1000 };
}

function alive(pid: number): boolean {
  try {
    return process.kill(pid, 0);
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  log(`fuzz — seed ${cfg.seed}: ${cfg.mqtt} MQTT, ${cfg.http} HTTP, ${cfg.amqp} AMQP inputs`);
  const h = await startBenchHub({ twin: true });
  try {
    const [deviceId, canaryId] = await registerDevices(h, 2);
    const deviceToken = createSasToken({ resourceUri: `localhost/devices/${deviceId}`, key: KEY, expiry: Math.floor(Date.now() / 1000) + 7200 });
    const owner = await h.ownerToken();
    // the canary: a well-formed device sending QoS 1 telemetry through it all
    const canary = await connectDevice(h, canaryId!);
    let sent = 0;
    let acked = 0;
    let stop = false;
    const canaryLoop = (async () => {
      while (!stop) {
        sent += 1;
        try {
          // an acknowledgement that does not come within 10 s fails the run (it never hangs it)
          await Promise.race([
            canary.publishAsync(`devices/${canaryId}/messages/events/`, `{"n":${sent}}`, { qos: 1 }),
            new Promise((_, reject) => setTimeout(() => reject(new Error('no PUBACK within 10 s')), 10_000).unref()),
          ]);
        } catch (err) {
          log(`canary: message ${sent} not acknowledged: ${(err as Error).message}`);
          break; // the missing acknowledgement fails the run
        }
        acked += 1;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const before = await processUsage(h.gatewayPid);
    const rows = [
      await fuzzProtocol('MQTT 3.1.1', cfg.mqtt, h.mqttPort, h, () => mqttSeeds(deviceId!, deviceToken)),
      await fuzzProtocol('HTTP/1.1', cfg.http, h.httpsPort, h, () => httpSeeds(deviceId!, deviceToken, owner)),
      await fuzzProtocol('AMQP 1.0', cfg.amqp, h.amqpPort, h, () => amqpSeeds()),
    ];
    stop = true;
    await canaryLoop;
    await Promise.race([canary.endAsync(), new Promise((r) => setTimeout(r, 2000).unref())]);
    // let connection teardown settle, then look at the gateway
    await new Promise((r) => setTimeout(r, 3000));
    const after = await processUsage(h.gatewayPid);
    const ready = await fetch(`http://127.0.0.1:${h.gatewayAdminPort}/readyz`).then((r) => r.ok, () => false);
    process.stdout.write(
      table(`fuzz (seed ${cfg.seed}) against one gateway process`, rows) +
        table('the gateway afterwards', [
          { check: 'process still running', result: String(alive(h.gatewayPid)) },
          { check: '/readyz', result: ready ? 'ready' : 'NOT READY' },
          { check: 'canary telemetry sent / acknowledged', result: `${sent} / ${acked}` },
          { check: 'RSS before → after (MB)', result: `${(before.rssBytes / 2 ** 20).toFixed(0)} → ${(after.rssBytes / 2 ** 20).toFixed(0)}` },
          { check: 'CPU s', result: (after.cpuSeconds - before.cpuSeconds).toFixed(1) },
        ]),
    );
    if (!ready || acked !== sent || !alive(h.gatewayPid) || rows.some((r) => Number(r['handshakes stalled']) > 0)) process.exitCode = 1;
  } finally {
    await h.stop();
  }
}

await main();
