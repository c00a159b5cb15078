import { RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { DEDUP_WINDOW_NS, encodeD2C, endpointStream, ensureStream, routedStream, subjects, type LeanJetStreamPublisher, type PubAck } from '@openiothub/bus';
import { BUILT_IN_ENDPOINT } from '../domain/routing-config.js';
import type { Destination, RoutingTable } from './routing-table.js';

/** Header on messages waiting for a webhook or blob deliverer: the partition they came from (blob names carry it). */
export const PARTITION_HEADER = 'Iothub-Partition-Id';
const WEEK_NS = 7 * 86_400 * 1_000_000_000;

/**
 * Puts a routed message where its endpoint keeps it: the built-in endpoint's partition stream,
 * a NATS endpoint's stream, or the backlog of a webhook/blob deliverer. Each publish carries a
 * de-duplication id made from the source position and the endpoint, so a batch routed again after
 * a crash is stored once.
 */
export class Dispatcher {
  readonly #jsm: JetStreamManager;
  readonly #publisher: LeanJetStreamPublisher;
  readonly #ensured = new Map<string, Promise<void>>();

  constructor(opts: { jsm: JetStreamManager; publisher: LeanJetStreamPublisher }) {
    this.#jsm = opts.jsm;
    this.#publisher = opts.publisher;
  }

  async send(table: RoutingTable, partition: number, dest: Destination, msgId: string): Promise<PubAck> {
    const { hub } = table;
    const { headers, data } = encodeD2C(dest.message, `${msgId}/${dest.endpoint.toLowerCase()}`);
    if (dest.endpoint === BUILT_IN_ENDPOINT) return this.#publisher.publish(subjects.d2c(hub, partition), data, headers);
    const endpoint = table.endpoints.get(dest.endpoint.toLowerCase());
    if (!endpoint) throw new Error(`endpoint ${dest.endpoint} is not configured`);
    if (endpoint.kind === 'nats') {
      const s = endpointStream(hub, endpoint.name);
      await this.#ensure(s.name, () => ensureStream(this.#jsm, { name: s.name, subjects: [s.subject], num_replicas: 1, max_age: WEEK_NS, duplicate_window: DEDUP_WINDOW_NS }));
      return this.#publisher.publish(s.subject, data, headers);
    }
    const s = routedStream(hub, endpoint.name);
    await this.#ensure(s.name, () => ensureRoutedStream(this.#jsm, hub, endpoint.name));
    headers.set(PARTITION_HEADER, String(partition));
    return this.#publisher.publish(s.subject, data, headers);
  }

  #ensure(name: string, make: () => Promise<void>): Promise<void> {
    let done = this.#ensured.get(name);
    if (!done) {
      done = make();
      done.catch(() => this.#ensured.delete(name));
      this.#ensured.set(name, done);
    }
    return done;
  }
}

/** The work queue of a webhook or blob endpoint's deliverer. */
export function ensureRoutedStream(jsm: JetStreamManager, hub: string, endpoint: string): Promise<void> {
  const s = routedStream(hub, endpoint);
  return ensureStream(jsm, { name: s.name, subjects: [s.subject], num_replicas: 1, max_age: WEEK_NS, duplicate_window: DEDUP_WINDOW_NS, retention: RetentionPolicy.Workqueue });
}
