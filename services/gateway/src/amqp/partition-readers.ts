import type { Sender } from 'rhea';
import type { HubInfo } from '@openiothub/bus';
import { DomainError } from '@openiothub/errors';
import { TtlCache } from '@openiothub/runtime';
import type { MessagingClient } from '../upstream/messaging-client.js';
import { EventHubsReader, parseStartPosition, selectorOf } from './eventhubs.js';

/**
 * The partition readers of the Event Hubs-compatible endpoint in this gateway process: consumer
 * groups (briefly cached), owner levels (epochs) per group and partition, and the readers themselves.
 */
export class PartitionReaders {
  readonly #messaging: MessagingClient;
  readonly #hubInfo: HubInfo;
  readonly #eventHubs: EventHubsReader;
  /** Readers by (hub, consumer group, partition), with their owner level (epoch). */
  readonly #owners = new Map<string, Map<Sender, number | undefined>>();
  /** Consumer group names (lower case) of each hub, briefly cached. */
  readonly #groups = new TtlCache<Set<string>>({ ttlMs: 10_000 });

  constructor(deps: { messaging: MessagingClient; hubInfo: HubInfo; eventHubs: EventHubsReader }) {
    this.#messaging = deps.messaging;
    this.#hubInfo = deps.hubInfo;
    this.#eventHubs = deps.eventHubs;
  }

  /** Does the hub have this consumer group (case-insensitive)? A miss re-reads the list once: it may have just been created. */
  async #hasGroup(hub: string, group: string): Promise<boolean> {
    if (group.toLowerCase() === '$default') return true; // always there: no lookup
    const load = async () => new Set((await this.#messaging.listConsumerGroups({ hub })).groups.map((g) => g.name.toLowerCase()));
    if ((await this.#groups.get(hub, load)).has(group.toLowerCase())) return true;
    return (await this.#groups.refresh(hub, load)).has(group.toLowerCase());
  }

  /**
   * Serve a partition reader link of the Event Hubs-compatible endpoint: consumer group check,
   * owner level, start position from the link filter; `setStop` gets what ends it (link closed,
   * connection gone).
   */
  async start(hub: string, link: Sender, partitionId: string, group: string, setStop: (stop: () => void) => void): Promise<void> {
    if (!(await this.#hasGroup(hub, group))) throw new DomainError('NotFound', `The messaging entity '${hub}/ConsumerGroups/${group}' could not be found.`);
    const ep = await this.#hubInfo.get(hub);
    const partition = EventHubsReader.partition(partitionId, ep);
    const release = this.#claimOwnership(`${hub}\n${group.toLowerCase()}\n${partition}`, link);
    setStop(release); // until the reader runs
    const start = parseStartPosition(selectorOf((link as unknown as { source?: { filter?: unknown } }).source?.filter));
    const stop = await this.#eventHubs.read(hub, partition, start, link);
    if (!link.is_open()) return stop();
    setStop(() => {
      stop();
      release();
    });
  }

  /**
   * Owner level (epoch) per consumer group and partition (spec/eventhubs-amqp.md §4.4): a higher or
   * equal epoch takes the partition from every reader, a lower one or a plain reader beside an
   * epoch reader is refused; all with `amqp:link:stolen`. Within this gateway process.
   */
  #claimOwnership(key: string, link: Sender): () => void {
    const raw = (link as unknown as { remote?: { attach?: { properties?: Record<string, unknown> } } }).remote?.attach?.properties?.['com.microsoft:epoch'];
    const epoch = raw === undefined || raw === null ? undefined : Number(raw);
    const readers = this.#owners.get(key) ?? new Map<Sender, number | undefined>();
    const epochs = [...readers.values()].filter((e): e is number => e !== undefined);
    const max = epochs.length > 0 ? Math.max(...epochs) : undefined;
    if (epoch === undefined && max !== undefined) {
      throw new DomainError('LinkCreationConflict', `At least one receiver for the endpoint is created with epoch of '${max}', and so non-epoch receiver is not allowed.`);
    }
    if (epoch !== undefined && max !== undefined && epoch < max) {
      throw new DomainError('LinkCreationConflict', `A receiver with a higher epoch of '${max}' already exists, so the receiver with epoch '${epoch}' cannot be created.`);
    }
    if (epoch !== undefined) {
      for (const other of readers.keys()) {
        try {
          other.close({ condition: 'amqp:link:stolen', description: `New receiver with higher epoch of '${epoch}' is created hence current receiver is getting disconnected.` });
        } catch {
          /* gone */
        }
        readers.delete(other);
      }
    }
    readers.set(link, epoch);
    this.#owners.set(key, readers);
    const forget = () => {
      readers.delete(link);
      if (readers.size === 0 && this.#owners.get(key) === readers) this.#owners.delete(key);
    };
    // called when the link closes or its connection goes (linkStops)
    return forget;
  }
}
