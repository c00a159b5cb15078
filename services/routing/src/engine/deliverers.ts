import type { JsMsg } from '@nats-io/jetstream';
import { BlobContainer, BlobRequestError } from '@openiothub/blob';
import { decodeD2C, type D2CMessage } from '@openiothub/bus';
import type { Logger } from '@openiothub/logging';
import { decodeJsonBody } from '@openiothub/query';
import type { StorageContainerEndpoint, WebhookEndpoint } from '../domain/routing-config.js';
import type { EndpointHealthRow, RoutingStore } from '../store/routing-store.js';
import { avroContainer } from './avro.js';
import { PARTITION_HEADER } from './dispatcher.js';
import { routingView } from './routing-table.js';

/**
 * Endpoint health as IoT Hub reports it (devguide §4.4): no row = unknown; each delivery outcome
 * moves it, and the store is written only when the status changes.
 */
export class HealthTracker {
  readonly #last = new Map<string, string>();
  constructor(
    private readonly store: RoutingStore,
    private readonly log: Logger,
  ) {}

  async report(hub: string, endpoint: string, status: EndpointHealthRow['status'], error?: string): Promise<void> {
    const key = `${hub}\n${endpoint.toLowerCase()}`;
    if (this.#last.get(key) === status && !error) return;
    if (this.#last.get(key) !== status) this.log.info({ category: 'Routes', hub, endpoint, status, error }, 'endpoint health changed');
    this.#last.set(key, status);
    await this.store.setHealth(hub, endpoint, status, error);
  }
}

/** System properties under the names IoT Hub's blob and webhook payloads use (`connectionDeviceId`, `enqueuedTime`, …). */
export function systemPropertiesByName(msg: D2CMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(routingView(msg, undefined).systemProperties)) if (v !== undefined) out[k] = v;
  return out;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Delivers a webhook endpoint's messages: an HTTP POST each (body as sent; properties as
 * `iothub-*` headers), several in flight. A failure is retried with backoff (the message's ack
 * timer kept alive) until the endpoint's retry period since enqueue has passed; then the message
 * is dead-lettered (dropped and logged) and the endpoint reported dead. A 2xx makes it healthy.
 */
export class WebhookDeliverer {
  constructor(
    private readonly hub: string,
    private readonly endpoint: WebhookEndpoint,
    private readonly health: HealthTracker,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {}

  async handle(batch: JsMsg[]): Promise<void> {
    await Promise.all(batch.map((m) => this.#deliver(m)));
  }

  async #deliver(m: JsMsg): Promise<void> {
    const msg = decodeD2C(m.headers, m.data);
    const headers: Record<string, string> = { ...this.endpoint.headers, 'content-type': msg.systemProperties['content-type'] || 'application/octet-stream' };
    for (const [k, v] of Object.entries(systemPropertiesByName(msg))) if (k !== 'contentType') headers[`iothub-${k.toLowerCase()}`] = encodeURIComponent(v);
    for (const [k, v] of Object.entries(msg.applicationProperties)) headers[`iothub-app-${encodeURIComponent(k.toLowerCase())}`] = encodeURIComponent(v);
    const enqueuedMs = Math.floor(m.info.timestampNanos / 1e6);
    for (let attempt = 0; !this.signal.aborted; attempt++) {
      let error: string;
      try {
        const res = await fetch(this.endpoint.url, { method: 'POST', headers, body: Buffer.from(msg.body), signal: AbortSignal.any([this.signal, AbortSignal.timeout(30_000)]) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          m.ack();
          await this.health.report(this.hub, this.endpoint.name, 'healthy');
          return;
        }
        error = `HTTP ${res.status}`;
      } catch (err) {
        if (this.signal.aborted) return;
        error = String((err as Error)?.cause ?? err);
      }
      if (Date.now() - enqueuedMs > this.endpoint.retryPeriodInSeconds * 1000) {
        this.log.warn({ category: 'Routes', hub: this.hub, endpoint: this.endpoint.name, error, messageId: msg.systemProperties['message-id'] }, 'webhook endpoint: retry period over, message dead-lettered');
        await this.health.report(this.hub, this.endpoint.name, 'dead', error);
        m.term();
        return;
      }
      await this.health.report(this.hub, this.endpoint.name, 'unhealthy', error);
      m.working();
      await sleep(Math.min(30_000, 250 * 2 ** Math.min(attempt, 8)), this.signal);
    }
  }
}

/** Most messages one blob holds before it is written early (they stay unacknowledged until then). */
export const BLOB_MAX_MESSAGES = 40_000;

interface Pending {
  readonly msgs: JsMsg[];
  readonly records: D2CMessage[];
  bytes: number;
}

/**
 * Writes a blob endpoint's messages in batches (devguide §4.3, scenario 24): one blob per
 * partition each time the batch frequency elapses (an empty blob when a partition had nothing) or
 * a partition's batch reaches the chunk size; named by the endpoint's file name format, with
 * `-01`, `-02`, … when a name of that minute exists. Avro (IoT Hub's record schema) or JSON
 * lines. Messages are acknowledged once their blob is written.
 */
export class BlobDeliverer {
  readonly #pending = new Map<number, Pending>();
  #windowStart = Date.now();
  #container: BlobContainer | undefined;

  constructor(
    private readonly hub: string,
    private readonly endpoint: StorageContainerEndpoint,
    private readonly partitions: () => Promise<number>,
    private readonly health: HealthTracker,
  ) {}

  async handle(batch: JsMsg[]): Promise<void> {
    for (const m of batch) {
      const partition = Number(m.headers?.get(PARTITION_HEADER) ?? '0') || 0;
      const p = this.#pending.get(partition) ?? { msgs: [], records: [], bytes: 0 };
      this.#pending.set(partition, p);
      p.msgs.push(m);
      p.records.push(decodeD2C(m.headers, m.data));
      p.bytes += m.data.length + 256;
      // the chunk size, or so many messages that the consumer's unacknowledged limit comes near
      if (p.bytes >= this.endpoint.maxChunkSizeInBytes || p.msgs.length >= BLOB_MAX_MESSAGES) await this.#flush(partition);
    }
  }

  /** The clock: when the batch window elapsed, every partition gets its blob (empty ones too). */
  async tick(now = Date.now()): Promise<void> {
    if (now - this.#windowStart < this.endpoint.batchFrequencyInSeconds * 1000) return;
    const count = await this.partitions();
    for (let p = 0; p < count; p++) await this.#flush(p);
    for (const p of [...this.#pending.keys()]) await this.#flush(p);
    this.#windowStart = now;
  }

  async #flush(partition: number): Promise<void> {
    const p = this.#pending.get(partition) ?? { msgs: [], records: [], bytes: 0 };
    const content = this.#encode(p.records);
    try {
      await this.#write(this.#blobName(partition, new Date(this.#windowStart)), content);
    } catch (err) {
      await this.health.report(this.hub, this.endpoint.name, 'unhealthy', String((err as Error)?.message ?? err));
      for (const m of p.msgs) m.working();
      throw err;
    }
    this.#pending.delete(partition);
    for (const m of p.msgs) m.ack();
    await this.health.report(this.hub, this.endpoint.name, 'healthy');
  }

  #encode(records: D2CMessage[]): Buffer {
    if (this.endpoint.encoding === 'json') {
      return Buffer.from(
        records
          .map((r) => {
            const json = decodeJsonBody(routingView(r, undefined));
            return JSON.stringify({ EnqueuedTimeUtc: r.systemProperties['iothub-enqueuedtime'] ?? '', Properties: r.applicationProperties, SystemProperties: systemPropertiesByName(r), Body: json !== undefined ? json : Buffer.from(r.body).toString('base64') });
          })
          .map((line) => line + '\n')
          .join(''),
        'utf8',
      );
    }
    return avroContainer(
      records.map((r) => ({ enqueuedTimeUtc: r.systemProperties['iothub-enqueuedtime'] ?? '', properties: r.applicationProperties, systemProperties: systemPropertiesByName(r), body: r.body })),
      this.endpoint.encoding === 'avroDeflate' ? 'deflate' : 'null',
    );
  }

  #blobName(partition: number, at: Date): string {
    const pad = (n: number) => String(n).padStart(2, '0');
    const tokens: Record<string, string> = {
      '{iothub}': this.hub,
      '{partition}': String(partition),
      '{YYYY}': String(at.getUTCFullYear()),
      '{MM}': pad(at.getUTCMonth() + 1),
      '{DD}': pad(at.getUTCDate()),
      '{HH}': pad(at.getUTCHours()),
      '{mm}': pad(at.getUTCMinutes()),
    };
    return this.endpoint.fileNameFormat.replace(/\{(iothub|partition|YYYY|MM|DD|HH|mm)\}/g, (t) => tokens[t]!);
  }

  async #write(name: string, content: Buffer): Promise<void> {
    if (!this.#container) {
      const container = BlobContainer.fromConnectionString(this.endpoint.connectionString, this.endpoint.containerName);
      await container.ensure();
      this.#container = container;
    }
    const type = this.endpoint.encoding === 'json' ? 'application/json' : 'avro/binary';
    for (let n = 0; n < 100; n++) {
      try {
        await this.#container.upload(n === 0 ? name : `${name}-${String(n).padStart(2, '0')}`, content, { contentType: type, ifAbsent: true });
        return;
      } catch (err) {
        if (err instanceof BlobRequestError && (err.status === 409 || err.status === 412)) continue;
        throw err;
      }
    }
    throw new Error(`more than 99 blobs named ${name} in one minute`);
  }
}
