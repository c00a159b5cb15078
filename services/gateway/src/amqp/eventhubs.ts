import rhea, { type Message, type Sender } from 'rhea';
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { d2cStream, decodeD2C, type NatsConnection } from '@openiothub/bus';
import { DomainError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';

/**
 * The Event Hubs-compatible built-in endpoint (spec/eventhubs-amqp.md): a hub's telemetry, read
 * from its JetStream partition streams, as the partitions of an event hub named after the hub.
 * Partition `p` is stream `D2C_{hub}_{p}` (subject `d2c.{hub}.{p}`); an event's sequence number
 * is its stream sequence minus one — 0, 1, 2, … per partition — and its offset the same number
 * as a string.
 */

/** Where a partition reader starts (spec §4.2). */
export type StartPosition =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'after-seq'; readonly seq: number; readonly inclusive: boolean }
  | { readonly kind: 'after-time'; readonly ms: number };

const SELECTOR = /^amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time|x-opt-enqueuedtimeutc)\s*(>=|>)\s*'([^']*)'$/;

/** The selector expression inside an attach's source filter (descriptor ulong 0x468C00000004 or the symbol). */
export function selectorOf(filter: unknown): string | undefined {
  if (!filter || typeof filter !== 'object') return undefined;
  for (const v of Object.values(filter as Record<string, unknown>)) {
    if (typeof v === 'string') return v;
    const inner = (v as { value?: unknown } | undefined)?.value;
    if (typeof inner === 'string') return inner;
    const deeper = (inner as { value?: unknown } | undefined)?.value;
    if (typeof deeper === 'string') return deeper;
  }
  return undefined;
}

/** Parse a selector; no filter means the start of the stream (Event Hubs behaviour). */
export function parseStartPosition(selector: string | undefined): StartPosition {
  if (selector === undefined) return { kind: 'earliest' };
  const m = SELECTOR.exec(selector.trim());
  if (!m) throw new DomainError('ArgumentInvalid', `Unsupported filter: ${selector}`);
  const [, field, op, value] = m as unknown as [string, string, string, string];
  if (field === 'x-opt-offset' && value === '@latest') return { kind: 'latest' };
  if (field === 'x-opt-offset' || field === 'x-opt-sequence-number') {
    if (!/^-?\d+$/.test(value)) throw new DomainError('ArgumentInvalid', `Not a number: '${value}'.`);
    const n = Number(BigInt(value));
    if (n < 0) return { kind: 'earliest' };
    return { kind: 'after-seq', seq: n, inclusive: op === '>=' };
  }
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new DomainError('ArgumentInvalid', `Not a time: '${value}'.`);
  return { kind: 'after-time', ms };
}

/** System properties that travel as message annotations on the built-in endpoint (spec §6.2). */
const ANNOTATED = [
  'iothub-connection-device-id',
  'iothub-connection-module-id',
  'iothub-connection-auth-method',
  'iothub-connection-auth-generation-id',
  'iothub-message-source',
  'iothub-interface-id',
  'dt-dataschema',
  'dt-subject',
  'iothub-outputname',
];

/** A stored telemetry message as an Event Hubs event (spec §4.6). */
export function eventOf(seq: number, headers: Parameters<typeof decodeD2C>[0], data: Uint8Array): Message {
  const m = decodeD2C(headers, data);
  const sys = m.systemProperties;
  const enqueued = sys['iothub-enqueuedtime'] ? new Date(sys['iothub-enqueuedtime']) : new Date();
  const annotations: Record<string, unknown> = {};
  for (const k of ANNOTATED) if (sys[k]) annotations[k] = sys[k];
  annotations['iothub-enqueuedtime'] = enqueued;
  annotations['x-opt-sequence-number'] = rhea.types.wrap_long(seq);
  annotations['x-opt-offset'] = String(seq);
  annotations['x-opt-enqueued-time'] = enqueued;
  const out: Message = { body: rhea.message.data_section(Buffer.from(m.body)), message_annotations: annotations, application_properties: { ...m.applicationProperties } };
  if (sys['message-id']) out.message_id = sys['message-id'];
  if (sys['correlation-id']) out.correlation_id = sys['correlation-id'];
  if (sys['user-id']) out.user_id = sys['user-id'];
  if (sys['content-type']) out.content_type = sys['content-type'];
  if (sys['content-encoding']) out.content_encoding = sys['content-encoding'];
  return out;
}

/** A hub's built-in endpoint: partition count and retention, fixed at hub creation. */
export interface Endpoint {
  readonly partitions: number;
  readonly retentionDays: number;
  readonly createdAt: Date;
}

/**
 * `$management` READ answers and partition readers over a hub's partition streams, which keep
 * exactly the hub's retention.
 */
export class EventHubsReader {
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  #jsm: Promise<JetStreamManager> | undefined;

  constructor(opts: { nc: NatsConnection; log: Logger }) {
    this.#nc = opts.nc;
    this.#log = opts.log;
  }

  static partitionIds(ep: Endpoint): string[] {
    return Array.from({ length: ep.partitions }, (_, i) => String(i));
  }

  /** Validate a partition id; ArgumentOutOfRange as Event Hubs words it. */
  static partition(id: string, ep: Endpoint): number {
    const n = /^\d+$/.test(id) ? Number(id) : -1;
    if (n < 0 || n >= ep.partitions) {
      throw new DomainError('ArgumentOutOfRange', `The specified partition is invalid for an EventHub partition sender or receiver. It should be between 0 and ${ep.partitions - 1}.`);
    }
    return n;
  }

  /** `com.microsoft:eventhub` READ body (spec §3.3). */
  static hubProperties(hub: string, ep: Endpoint): Record<string, unknown> {
    return {
      name: hub,
      created_at: ep.createdAt,
      partition_count: rhea.types.wrap_int(ep.partitions),
      partition_ids: rhea.types.wrap_array(EventHubsReader.partitionIds(ep), 0xa1, undefined),
      type: 'com.microsoft:eventhub',
    };
  }

  /**
   * `com.microsoft:partition` READ body (spec §3.3) from the partition stream's state; event
   * sequence numbers are the stream's minus one (Event Hubs counts from 0).
   */
  async partitionProperties(hub: string, partitionId: string, ep: Endpoint): Promise<Record<string, unknown>> {
    const p = EventHubsReader.partition(partitionId, ep);
    const jsm = await (this.#jsm ??= jetstreamManager(this.#nc));
    const info = await jsm.streams.info(d2cStream(hub, p).name).catch(() => null);
    const state = info?.state;
    const empty = !state || state.messages === 0;
    return {
      name: hub,
      partition: partitionId,
      begin_sequence_number: rhea.types.wrap_long(empty ? -1 : state.first_seq - 1),
      last_enqueued_sequence_number: rhea.types.wrap_long(empty ? -1 : state.last_seq - 1),
      last_enqueued_offset: empty ? '-1' : String(state.last_seq - 1),
      last_enqueued_time_utc: empty ? new Date(0) : new Date(state.last_ts),
      is_partition_empty: empty,
      type: 'com.microsoft:partition',
    };
  }

  /**
   * Stream a partition to a receiver link from `start`, pre-settled (the client never settles,
   * spec §4.3), only while the link has credit. Resolves a stop function. The stream keeps only
   * the hub's retention, so "earliest" is the start of retention.
   */
  async read(hub: string, partition: number, start: StartPosition, link: Sender): Promise<() => void> {
    const opts: Record<string, unknown> = {};
    // event sequence number n is stream sequence n + 1
    if (start.kind === 'earliest') opts['deliver_policy'] = DeliverPolicy.All;
    else if (start.kind === 'latest') opts['deliver_policy'] = DeliverPolicy.New;
    else if (start.kind === 'after-seq') Object.assign(opts, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.inclusive ? start.seq + 1 : start.seq + 2 });
    else Object.assign(opts, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.ms + 1).toISOString() });
    const consumer = await jetstream(this.#nc).consumers.get(d2cStream(hub, partition).name, opts);
    const messages = await consumer.consume({ max_messages: 256 });
    // events go out pre-settled: no dispositions come back
    (link as unknown as { local: { attach: { snd_settle_mode: number } } }).local.attach.snd_settle_mode = 1;
    let stopped = false;
    let wake: (() => void) | undefined;
    const onSendable = () => wake?.();
    link.on('sendable', onSendable);
    void (async () => {
      try {
        for await (const m of messages) {
          while (!stopped && !link.sendable()) await new Promise<void>((r) => (wake = r));
          if (stopped) break;
          link.send(eventOf(m.seq - 1, m.headers, m.data));
        }
      } catch (err) {
        if (!stopped) this.#log.warn({ err, hub, partition }, 'Event Hubs partition reader failed');
      }
    })();
    return () => {
      stopped = true;
      wake?.();
      link.removeListener('sendable', onSendable);
      void messages.close();
    };
  }
}
