import { subjects, type NatsConnection } from '@openiothub/bus';
import type { Msg, Subscription } from '@nats-io/transport-node';

/** A live connection of one identity that presence can close. */
export interface Claimant {
  readonly connectionId: string;
  readonly connectedAt: number;
  readonly moduleId: string | undefined;
  /** Close because a newer connection of the same identity exists (409002 LinkCreationConflict). */
  kick(): void;
  /** Close because the identity was disabled or deleted. */
  revoke(): void;
  /** A device-directed message for this identity (`method`, `desired`, …); `msg.respond` answers requests. */
  deliver(kind: string, msg: Msg): void;
}

interface Announce {
  connectionId: string;
  connectedAt: number;
}

const newer = (a: Announce, b: Announce) => a.connectedAt > b.connectedAt || (a.connectedAt === b.connectedAt && a.connectionId > b.connectionId);

/**
 * One connection per identity, across every gateway process, and the route of device-directed
 * messages (methods, desired patches) to the process that holds it (devguide: a new connection drops
 * the existing one). A gateway holding a connection subscribes to the identity's subject; a new
 * connection announces itself there, and every older holder closes — last wins, decided by
 * (connectedAt, connectionId) so a simultaneous pair agrees on the winner.
 */
export class Presence {
  readonly #nc: NatsConnection;
  readonly #local = new Map<string, { claimant: Claimant; sub: Subscription }>();

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  /** Take the identity for `claimant`; resolves a release function once older holders were told. */
  async claim(hub: string, deviceId: string, moduleId: string | undefined, claimant: Claimant): Promise<() => void> {
    const prefix = subjects.identity(hub, deviceId, moduleId);
    const mine: Announce = { connectionId: claimant.connectionId, connectedAt: claimant.connectedAt };
    const existing = this.#local.get(prefix);
    if (existing && newer(mine, existing.claimant)) {
      existing.sub.unsubscribe();
      this.#local.delete(prefix);
      existing.claimant.kick();
    }
    const sub = this.#nc.subscribe(`${prefix}.>`, {
      callback: (err, msg) => {
        if (err) return;
        if (msg.subject !== subjects.kick(prefix)) {
          claimant.deliver(msg.subject.slice(prefix.length + 1), msg);
          return;
        }
        let other: Announce;
        try {
          other = JSON.parse(new TextDecoder().decode(msg.data)) as Announce;
        } catch {
          return;
        }
        if (other.connectionId !== mine.connectionId && newer(other, mine)) {
          release();
          claimant.kick();
        }
      },
    });
    this.#local.set(prefix, { claimant, sub });
    // our subscription must be in place before we announce, or a simultaneous peer could miss us
    await this.#nc.flush();
    this.#nc.publish(subjects.kick(prefix), JSON.stringify(mine));
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      sub.unsubscribe();
      if (this.#local.get(prefix)?.claimant === claimant) this.#local.delete(prefix);
    };
    return release;
  }

  /** Live local connections of a device and its modules. */
  localOf(hub: string, deviceId: string): Claimant[] {
    const device = subjects.identity(hub, deviceId);
    const modules = subjects.modulesOf(hub, deviceId);
    return [...this.#local.entries()].filter(([k]) => k === device || k.startsWith(modules)).map(([, v]) => v.claimant);
  }

}
