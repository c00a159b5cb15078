import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectNats, d2cStream, decodeD2C, encodeD2C, endpointStream, HubInfo, ingestStream, partitionOf, subjects } from '@openiothub/bus';
import { connectClient, registryV1, routingV1 } from '@openiothub/proto';
import { freePort, startServiceProcess, testUrls, uniqueName, type ServiceProcess } from '@openiothub/testing';

// Routing processes run from the build, as in production, against the machine's NATS, Redis and
// Postgres; the registry process gives the hub its partition count. Telemetry is put into the
// ingest streams the way the gateway does (a JetStream-acknowledged publish = an acked message).
const root = resolve(import.meta.dirname, '../../..');
const entry = (name: string) => join(root, 'services', name, 'dist', 'main.js');
const urls = testUrls();
const started: ServiceProcess[] = [];
afterAll(async () => {
  for (const p of started) await p.stop('SIGKILL');
});

async function routingProcess(registryGrpc: number, hub: string): Promise<{ p: ServiceProcess; grpc: number }> {
  const [grpc, admin] = await Promise.all([freePort(), freePort()]);
  const p = await startServiceProcess({
    entry: entry('routing'),
    adminPort: admin,
    env: {
      DATABASE_URL: urls.databaseUrl,
      NATS_URL: urls.natsUrl,
      REDIS_URL: urls.redisUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpc),
      REGISTRY_GRPC_URL: `127.0.0.1:${registryGrpc}`,
      TWIN_GRPC_URL: '127.0.0.1:1',
      ROUTING_LEASE_MS: '1500',
      ROUTING_ACK_WAIT_MS: '2000',
      ROUTING_DISCOVERY_MS: '300',
      ROUTING_HUBS: hub,
    },
  });
  started.push(p);
  return { p, grpc };
}

/** Sum of a counter over its labels in a /metrics text. */
const metricSum = (metrics: string, name: string) =>
  metrics
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
const routedCount = (metrics: string) => metricSum(metrics, 'openiothub_routing_messages_total');

describe('routing processes', () => {
  it('two processes share the partitions; one killed mid-stream: every acked message reaches each endpoint exactly once', async () => {
    const hub = uniqueName('rtproc');
    const [registryGrpc, registryAdmin] = await Promise.all([freePort(), freePort()]);
    started.push(await startServiceProcess({ entry: entry('registry'), adminPort: registryAdmin, env: { DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(registryGrpc), DEFAULT_HUB: hub } }));
    const a = await routingProcess(registryGrpc, hub);
    const b = await routingProcess(registryGrpc, hub);
    const routing = connectClient(routingV1.RoutingServiceClient, routingV1.RoutingServiceService, `127.0.0.1:${a.grpc}`);
    const registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, `127.0.0.1:${registryGrpc}`);
    await routing.putRouting({
      hub,
      ifMatch: '',
      routingJson: JSON.stringify({ endpoints: { natsSubjects: [{ name: 'copy' }] }, routes: [{ name: 'all', condition: 'true', endpointNames: ['copy'] }, { name: 'builtin', condition: 'true', endpointNames: ['events'] }] }),
    });

    const nc = await connectNats(urls.natsUrl, 'routing-processes-test');
    const partitions = 4;
    const info = await new HubInfo(async (h) => (await registry.getHub({ hub: h })).hub, nc).get(hub);
    expect(info.partitions).toBe(partitions);
    const js = jetstream(nc);
    const sent = new Set<string>();
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const deviceId = `d${i % 40}`;
        const id = randomUUID();
        const { headers, data } = encodeD2C({ body: Buffer.from(`{"i":${i}}`), systemProperties: { 'message-id': id, 'iothub-connection-device-id': deviceId }, applicationProperties: {} }, id);
        await js.publish(subjects.ingest(hub, partitionOf(deviceId, partitions)), data, { headers });
        sent.add(id);
      }
    };
    await publish(600);
    // both processes took a share of the partitions and routed some of the traffic
    const deadline = Date.now() + 15_000;
    while ((routedCount(await a.p.metrics()) === 0 || routedCount(await b.p.metrics()) === 0) && Date.now() < deadline) await publish(50);
    expect(routedCount(await a.p.metrics())).toBeGreaterThan(0);
    expect(routedCount(await b.p.metrics())).toBeGreaterThan(0);

    // a crash: no chance to give back its leases or acknowledge what it holds
    const killing = a.p.stop('SIGKILL');
    await publish(600);
    await killing;
    await publish(300);
    const restarted = await routingProcess(registryGrpc, hub); // the restart

    const jsm = await jetstreamManager(nc);
    const countIn = async (names: string[]) => (await Promise.all(names.map(async (n) => (await jsm.streams.info(n)).state.messages))).reduce((x, y) => x + y, 0);
    const builtIn = Array.from({ length: partitions }, (_, p) => d2cStream(hub, p).name);
    const copy = endpointStream(hub, 'copy').name;
    const until = Date.now() + 30_000;
    while (Date.now() < until && ((await countIn(builtIn)) < sent.size || (await countIn([copy])) < sent.size)) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 2500)); // redeliveries of the dead process's batches come after ack_wait
    expect(await countIn(builtIn)).toBe(sent.size);
    expect(await countIn([copy])).toBe(sent.size);

    // the very messages that were sent, each once
    const ids = async (stream: string, expected: number) => {
      const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
      const out: string[] = [];
      const iter = await consumer.fetch({ max_messages: expected, expires: 5000 });
      for await (const m of iter) out.push(decodeD2C(m.headers, m.data).systemProperties['message-id'] ?? '');
      return out;
    };
    const fromCopy = await ids(copy, sent.size);
    expect(new Set(fromCopy).size).toBe(fromCopy.length);
    expect(new Set(fromCopy)).toEqual(sent);
    const fromBuiltIn = (await Promise.all(builtIn.map(async (s) => ids(s, (await jsm.streams.info(s)).state.messages)))).flat();
    expect(new Set(fromBuiltIn)).toEqual(sent);
    // the ingest work queues are drained
    const ingestLeft = await countIn(Array.from({ length: partitions }, (_, p) => ingestStream(hub, p).name));
    expect(ingestLeft).toBe(0);

    // fallback off and no routes: telemetry is dropped, and counted (d2c.telemetry.egress.orphaned)
    // (process a is gone: ask the restarted one)
    const routing2 = connectClient(routingV1.RoutingServiceClient, routingV1.RoutingServiceService, `127.0.0.1:${restarted.grpc}`);
    await routing2.putRouting({ hub, ifMatch: '', routingJson: JSON.stringify({ fallbackRoute: { isEnabled: false } }) });
    routing2.close();
    await new Promise((r) => setTimeout(r, 500));
    const droppedCount = async () =>
      (await Promise.all(started.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.metrics().catch(() => ''))))
        .reduce((n, m) => n + metricSum(m, `iothub_d2c_telemetry_egress_orphaned_total{hub="${hub}"}`), 0);
    const before = await droppedCount();
    const builtInBefore = await countIn(builtIn);
    await publish(20);
    const until2 = Date.now() + 15_000;
    while (Date.now() < until2 && (await droppedCount()) < before + 20) await new Promise((r) => setTimeout(r, 200));
    expect(await droppedCount()).toBe(before + 20);
    expect(await countIn(builtIn)).toBe(builtInBefore);

    routing.close();
    registry.close();
    await nc.close();
  }, 120_000);

  it('a deployment of named hubs reads only its hubs\' events from EVENTS, not every hub\'s since the stream began', async () => {
    const hub = uniqueName('rtevt');
    const nc = await connectNats(urls.natsUrl, 'routing-events-test');
    try {
      // other hubs' events already in the stream
      const js = jetstream(nc);
      const other = uniqueName('rtother');
      for (let i = 0; i < 20; i++) await js.publish(subjects.lifecycle(other, `d${i}`), '{}');
      const [registryGrpc, registryAdmin] = await Promise.all([freePort(), freePort()]);
      started.push(await startServiceProcess({ entry: entry('registry'), adminPort: registryAdmin, env: { DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(registryGrpc), DEFAULT_HUB: hub } }));
      await routingProcess(registryGrpc, hub);
      const jsm = await jetstreamManager(nc);
      const mine = async () => {
        for await (const c of jsm.consumers.list('EVENTS')) if (c.config.filter_subject === subjects.eventsOf(hub)) return c;
        return undefined;
      };
      const deadline = Date.now() + 10_000;
      let c = await mine();
      while (!c && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        c = await mine();
      }
      expect(c, 'an EVENTS consumer filtered to the hub').toBeDefined();
      // nothing of the other hubs is waiting for it, or was handed to it
      expect(c!.num_pending).toBe(0);
      expect(c!.delivered.consumer_seq).toBe(0);
    } finally {
      await nc.close();
    }
  });
});
