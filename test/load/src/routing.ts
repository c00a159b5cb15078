/**
 * `npm run bench:routing`: how fast the routing service moves telemetry from the ingest partitions
 * to its endpoints with 10 routes of mixed conditions (properties, `$body`, functions, IN) to the
 * built-in endpoint, a blob container (Azurite) and a webhook, beside the same hub with no routes
 * (everything to the built-in endpoint through the fallback) in the same run — the goal is
 * ≥ 0.8 × the no-route rate. Also the device → endpoint latency at a paced load.
 *
 * Registry, gateway and routing run as their own processes (built entry points); the MQTT load
 * generator, the built-in endpoint reader and the webhook receiver run here. Env: DEVICES (50),
 * IN_FLIGHT (20), SECONDS per phase (10), RATE for the latency phases (msg/s, default 40% of the
 * no-route rate).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, d2cStream, followD2C, ingestStream, routedStream } from '@openiothub/bus';
import { connectClient, routingV1 } from '@openiothub/proto';
import { startAzurite } from '@openiothub/testing';
import { connectDevice, inBatches, int, log, registerDevices, root, schedule, startBenchHub, urls } from './harness.js';
import { percentile, processUsage, table } from './stats.js';

const cfg = { devices: int('DEVICES', 50), inFlight: int('IN_FLIGHT', 20), seconds: int('SECONDS', 10), rate: int('RATE', 0) };
const PARTITIONS = 4;
const stops: Array<() => Promise<void>> = [];

/** One message of the mix: 5% critical (webhook), 5% storage (blob), the rest spread over the other routes. */
function messageOf(i: number): { props: string; body: Buffer } {
  const r = i % 100;
  const level = r < 5 ? 'critical' : r < 10 ? 'storage' : r < 20 ? 'debug' : r < 30 ? 'info' : 'normal';
  const zone = i % 3 === 0 ? 'north' : 'south';
  const body = { t: Date.now(), temp: 50 + (i % 50), humidity: i % 40, ...(r === 42 ? { extra: true } : {}) };
  return { props: `level=${level}&zone=${zone}&sensor=${i % 2 ? 'humidity' : 'temp'}&$.ct=application%2Fjson&$.ce=utf-8`, body: Buffer.from(JSON.stringify(body)) };
}

/** Publish the message mix with `inFlight` outstanding per client for `seconds` (or paced to `rate` msg/s overall). */
async function drive(clients: MqttClient[], opts: { seconds: number; inFlight: number; rate?: number }): Promise<{ acked: number; pubackP99: number }> {
  let acked = 0;
  let n = 0;
  const pubacks: number[] = [];
  await schedule(clients, opts, (c, after) => {
    const m = messageOf(n++);
    const t = performance.now();
    c.publish(`devices/${c.options.clientId as string}/messages/events/${m.props}`, m.body, { qos: 1 }, (err) => {
      if (!err) {
        acked++;
        pubacks.push(performance.now() - t);
      }
      after();
    });
  });
  pubacks.sort((a, b) => a - b);
  return { acked, pubackP99: percentile(pubacks, 99) };
}

async function main() {
  log(`bench:routing  devices=${cfg.devices} inFlight=${cfg.inFlight} seconds=${cfg.seconds}`);
  const azurite = await startAzurite();
  stops.push(() => azurite.stop());
  const h = await startBenchHub({ twin: false, routing: true, routingEnv: { ROUTING_MIN_BATCH_FREQUENCY_SECONDS: '1' } });
  stops.push(() => h.stop());
  const ids = await registerDevices(h, cfg.devices);
  const routing = connectClient(routingV1.RoutingServiceClient, routingV1.RoutingServiceService, `127.0.0.1:${h.routingGrpc}`);
  const nc = await connectNats(urls.natsUrl, 'bench-routing');
  const jsm = await jetstreamManager(nc);

  // the webhook endpoint: records device → webhook latency
  let webhookLatencies: number[] = [];
  let webhookCount = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      webhookCount++;
      const t = (JSON.parse(Buffer.concat(chunks).toString()) as { t: number }).t;
      webhookLatencies.push(Date.now() - t);
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  stops.push(() => new Promise<void>((r) => server.close(() => r())));
  const webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  // the built-in endpoint: records device → built-in latency
  let builtInLatencies: number[] = [];
  const ac = new AbortController();
  const reading = followD2C(nc, h.hub, (m) => builtInLatencies.push(Date.now() - (JSON.parse(Buffer.from(m.body).toString()) as { t: number }).t), ac.signal);

  /** Messages routed so far: everything the ingest work queues ever stored minus what they still hold. */
  const routedSoFar = async () => {
    let n = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const s = await jsm.streams.info(ingestStream(h.hub, p).name).catch(() => undefined);
      if (s) n += s.state.last_seq - s.state.messages;
    }
    return n;
  };
  /** Messages not yet at their endpoints: in the ingest queues, or waiting for the webhook/blob deliverers. */
  const backlog = async () => {
    const names = [...Array.from({ length: PARTITIONS }, (_, p) => ingestStream(h.hub, p).name), routedStream(h.hub, 'alerts').name, routedStream(h.hub, 'archive').name];
    let n = 0;
    for (const name of names) n += (await jsm.streams.info(name).catch(() => undefined))?.state.messages ?? 0;
    return n;
  };
  const drained = async () => {
    const deadline = Date.now() + 120_000;
    while ((await backlog()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  };

  const clients = await inBatches(cfg.devices, 50, (i) => connectDevice(h, ids[i]!));
  const routingPid = h.routingPid!;

  /** Saturate the devices; the routing rate is what left the ingest queues during the window. */
  const saturation = async (label: string) => {
    await drive(clients, { seconds: 2, inFlight: cfg.inFlight }); // warm-up
    await drained();
    const r0 = await routedSoFar();
    const u0 = await processUsage(routingPid);
    const t0 = performance.now();
    const { acked } = await drive(clients, { seconds: cfg.seconds, inFlight: cfg.inFlight });
    const seconds = (performance.now() - t0) / 1000;
    const r1 = await routedSoFar();
    const u1 = await processUsage(routingPid);
    log(`${label}: ${acked} acked by the gateway, ${r1 - r0} routed in ${seconds.toFixed(1)} s; draining the rest`);
    await drained();
    return { routed: (r1 - r0) / seconds, ingest: acked / seconds, cpu: ((u1.cpuSeconds - u0.cpuSeconds) / seconds) * 100, rss: u1.rssBytes / 2 ** 20 };
  };
  const paced = async (rate: number) => {
    builtInLatencies = [];
    webhookLatencies = [];
    const { pubackP99 } = await drive(clients, { seconds: cfg.seconds, inFlight: cfg.inFlight, rate });
    log(`paced at ${rate}/s: PUBACK p99 ${pubackP99} ms`);
    await drained();
    await new Promise((r) => setTimeout(r, 1500));
    const b = [...builtInLatencies].sort((x, y) => x - y);
    const w = [...webhookLatencies].sort((x, y) => x - y);
    return { builtIn: { n: b.length, p50: percentile(b, 50), p99: percentile(b, 99) }, webhook: { n: w.length, p50: percentile(w, 50), p99: percentile(w, 99) } };
  };

  // --- no routes: everything through the fallback to the built-in endpoint ---
  await routing.putRouting({ hub: h.hub, ifMatch: '', routingJson: '{}' });
  const none = await saturation('no routes');
  const rate = cfg.rate || Math.round(none.routed * 0.4);
  const noneLatency = await paced(rate);

  // --- 10 routes, mixed conditions, three endpoint kinds ---
  const doc = {
    endpoints: {
      storageContainers: [{ name: 'archive', connectionString: azurite.connectionString, containerName: `bench-${Date.now()}`, batchFrequencyInSeconds: 1 }],
      webhooks: [{ name: 'alerts', url: webhookUrl }],
    },
    routes: [
      { name: 'critical', condition: "level = 'critical'", endpointNames: ['alerts'] },
      { name: 'storage', condition: "level = 'storage'", endpointNames: ['archive'] },
      { name: 'hot', condition: '$body.temp > 90', endpointNames: ['events'] },
      { name: 'someDevices', condition: "STARTS_WITH($connectionDeviceId, 'bench-00000')", endpointNames: ['events'] },
      { name: 'dry', condition: "sensor = 'humidity' AND $body.humidity < 10", endpointNames: ['archive'] },
      { name: 'north', condition: "UPPER(zone) = 'NORTH'", endpointNames: ['events'] },
      { name: 'math', condition: "$body.temp * 2 > 150 OR level = 'info'", endpointNames: ['events'] },
      { name: 'extra', condition: 'IS_DEFINED($body.extra)', endpointNames: ['alerts'] },
      { name: 'verbose', condition: "level IN ['debug', 'trace']", endpointNames: ['events'] },
      { name: 'json', condition: "$contentType = 'application/json' AND level != 'critical'", endpointNames: ['events'] },
    ],
  };
  await routing.putRouting({ hub: h.hub, ifMatch: '', routingJson: JSON.stringify(doc) });
  await new Promise((r) => setTimeout(r, 3000)); // every routing table reloaded
  webhookCount = 0;
  const ten = await saturation('10 routes');
  const tenLatency = await paced(rate);

  const rows = [
    { configuration: 'no routes (fallback → built-in)', 'routed msg/s': Math.round(none.routed), 'gateway acked msg/s': Math.round(none.ingest), 'vs no routes': '1.00', [`built-in p50/p99 ms @${rate}/s`]: `${noneLatency.builtIn.p50} / ${noneLatency.builtIn.p99}`, [`webhook p50/p99 ms @${rate}/s`]: '', 'routing CPU %': none.cpu, 'routing RSS MB': none.rss },
    { configuration: '10 routes → built-in + blob + webhook', 'routed msg/s': Math.round(ten.routed), 'gateway acked msg/s': Math.round(ten.ingest), 'vs no routes': (ten.routed / none.routed).toFixed(2), [`built-in p50/p99 ms @${rate}/s`]: `${tenLatency.builtIn.p50} / ${tenLatency.builtIn.p99}`, [`webhook p50/p99 ms @${rate}/s`]: `${tenLatency.webhook.p50} / ${tenLatency.webhook.p99}`, 'routing CPU %': ten.cpu, 'routing RSS MB': ten.rss },
  ];
  const blobs = await jsm.streams.info(routedStream(h.hub, 'archive').name).then((s) => s.state.last_seq, () => 0);
  const out = table(`Routing throughput (saturated devices) and device → endpoint latency (paced); ${cfg.devices} MQTT devices; load generator, gateway, routing, registry, NATS share the machine`, rows);
  process.stdout.write(out + `\nwebhook deliveries: ${webhookCount}; messages handed to the blob endpoint: ${blobs}\n`);
  mkdirSync(join(root, '.data'), { recursive: true });
  writeFileSync(join(root, '.data', 'bench-routing.json'), JSON.stringify({ cfg, rate, rows, none, ten, noneLatency, tenLatency, at: new Date().toISOString() }, null, 2));

  ac.abort();
  await reading.catch(() => undefined);
  await Promise.all(clients.map((c) => c.endAsync()));
  for (let p = 0; p < PARTITIONS; p++) {
    await jsm.streams.delete(ingestStream(h.hub, p).name).catch(() => false);
    await jsm.streams.delete(d2cStream(h.hub, p).name).catch(() => false);
  }
  for (const e of ['archive', 'alerts']) await jsm.streams.delete(routedStream(h.hub, e).name).catch(() => false);
  routing.close();
  await nc.close();
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const stop of stops.reverse()) await stop();
  });
