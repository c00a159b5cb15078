import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { BlobServiceClient } from '@azure/storage-blob';
import avro from 'avsc';
import { Client as DeviceClient, Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { connectNats, decodeD2C, endpointStream, type D2CMessage, type NatsConnection } from '@openiothub/bus';
import type { TestIdentity } from './devices.js';
import { Registry } from 'azure-iothub';
import { uniqueName } from '@openiothub/testing';
import { hub, hubFetch, ownerConnectionString, poll } from './helpers.js';

/** PUT the hub's routing document; the parsed answer (throws with the body on an error status). */
export async function putRouting(doc: unknown, expectStatus = 200): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await hubFetch('/settings/routing', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== expectStatus) throw new Error(`PUT /settings/routing: ${res.status} ${JSON.stringify(body)}`);
  return { status: res.status, body };
}

/** Back to IoT Hub's default: no routes, fallback to the built-in endpoint. */
export const resetRouting = () => putRouting({});

/** Send telemetry with the Azure device SDK over MQTT; each entry gives properties and an optional JSON body. */
export async function sendWithSdk(device: TestIdentity, messages: { props?: Record<string, string>; body?: unknown; json?: boolean }[]): Promise<void> {
  const client = DeviceClient.fromConnectionString(device.connectionString, Mqtt);
  await client.open();
  try {
    for (const m of messages) {
      const msg = new Message(JSON.stringify(m.body ?? {}));
      if (m.json !== false) {
        msg.contentType = 'application/json';
        msg.contentEncoding = 'utf-8';
      }
      for (const [k, v] of Object.entries(m.props ?? {})) msg.properties.add(k, v);
      await client.sendEvent(msg);
    }
  } finally {
    await client.close();
  }
}

/** Everything a NATS routing endpoint's stream holds (a queue any JetStream client reads), from the start. */
export async function natsEndpoint(name: string): Promise<{ messages: D2CMessage[]; close(): Promise<void> }> {
  const nc: NatsConnection = await connectNats(hub().backing.natsUrl, 'e2e-endpoint-reader');
  const messages: D2CMessage[] = [];
  const stream = endpointStream(hub().hub, name).name;
  let closed = false;
  const loop = (async () => {
    const jsm = await jetstreamManager(nc);
    while (!closed) {
      const exists = await jsm.streams.info(stream).then(() => true, () => false);
      if (exists) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (closed) return;
    const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    const iter = await consumer.consume();
    const stop = setInterval(() => closed && void iter.close(), 100);
    for await (const m of iter) messages.push(decodeD2C(m.headers, m.data));
    clearInterval(stop);
  })();
  return {
    messages,
    async close() {
      closed = true;
      await loop.catch(() => undefined);
      await nc.close();
    },
  };
}

export interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** An HTTP webhook that answers `status()` (503 while "down") and records what it accepted. */
export async function webhook(status: () => number = () => 200): Promise<{ url: string; accepted: Received[]; attempts: number; close(): Promise<void> }> {
  const state = { accepted: [] as Received[], attempts: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.attempts++;
      const code = status();
      if (code < 300) state.accepted.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(code).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    get accepted() {
      return state.accepted;
    },
    get attempts() {
      return state.attempts;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export interface BlobRecord {
  readonly name: string;
  readonly records: { EnqueuedTimeUtc: string; Properties: Record<string, string>; SystemProperties: Record<string, string>; Body: unknown }[];
}

/** Every blob under `{hub}/` in a container, decoded (Avro with avsc, or JSON lines). */
export async function readBlobs(connectionString: string, container: string): Promise<BlobRecord[]> {
  const c = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  if (!(await c.exists())) return [];
  const out: BlobRecord[] = [];
  for await (const b of c.listBlobsFlat({ prefix: `${hub().hub}/` })) {
    const data = await c.getBlobClient(b.name).downloadToBuffer();
    if (b.properties.contentType === 'application/json') {
      const records = data.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as BlobRecord['records'][number]);
      out.push({ name: b.name, records });
      continue;
    }
    const records = await new Promise<BlobRecord['records']>((resolve, reject) => {
      const rs: BlobRecord['records'] = [];
      const decoder = new avro.streams.BlockDecoder();
      decoder.on('data', (r: BlobRecord['records'][number]) => rs.push(r));
      decoder.on('end', () => resolve(rs));
      decoder.on('error', reject);
      decoder.end(data);
    });
    out.push({ name: b.name, records });
  }
  return out;
}

/**
 * Waits until the routing service has handled every non-telemetry event raised so far: events are
 * routed in order, so when a barrier device's DeviceDeleted reaches a subscription, everything
 * before it has been handled. A test that raises thousands of events (bulk import) calls this
 * last, so the next test starts on a quiet hub. The hub's subscriptions are restored afterwards.
 */
export async function eventsSettled(timeoutMs = 240_000): Promise<void> {
  const before = ((await (await hubFetch('/settings/eventSubscriptions')).json()) as { value: unknown[] }).value;
  const barrier = await webhook();
  const deviceId = uniqueName('barrier');
  try {
    const put = await hubFetch('/settings/eventSubscriptions', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([...before, { name: 'settled-barrier', url: barrier.url, includedEventTypes: ['Microsoft.Devices.DeviceDeleted'], subjectBeginsWith: `devices/${deviceId}` }]),
    });
    if (put.status !== 200) throw new Error(`could not add the barrier subscription: ${put.status}`);
    const registry = Registry.fromConnectionString(ownerConnectionString());
    await registry.create({ deviceId });
    await registry.delete(deviceId);
    await poll(async () => barrier.accepted.length, (n) => n > 0, timeoutMs, 'routing to catch up with the hub events');
  } finally {
    await hubFetch('/settings/eventSubscriptions', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(before) });
    await barrier.close();
  }
}
