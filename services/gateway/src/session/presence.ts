import { subjects, type LocalDeviceRequester, type MethodReply, type NatsConnection } from '@openiothub/bus';
import type { Msg, Subscription } from '@nats-io/transport-node';
import type { C2DPump } from '../c2d/pump.js';

/**
 * A device-directed message: a bus message, or one made in this process for a device it holds
 * (see {@link Presence.request}). `respond` answers a request.
 */
export type DeviceMessage = Pick<Msg, 'subject' | 'data' | 'headers' | 'json'> & { respond(data: string): boolean };

/** A request for a device this process holds, answered in this process. */
class LocalRequest implements DeviceMessage {
  readonly headers = undefined;
  constructor(
    readonly subject: string,
    private readonly request: string,
    private readonly onReply: (reply: MethodReply) => void,
  ) {}
  get data(): Uint8Array {
    return Buffer.from(this.request, 'utf8');
  }
  json<T>(): T {
    return JSON.parse(this.request) as T;
  }
  respond(data: string): boolean {
    this.onReply(JSON.parse(data) as MethodReply);
    return true;
  }
}

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
  deliver(kind: string, msg: DeviceMessage): void;
  /** The connection's C2D delivery, while the identity takes C2D messages (MQTT subscription, AMQP receiver link). */
  c2d?(): C2DPump | undefined;
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

  /**
   * Ask a device this process holds (a method or stream request) without the bus: the same
   * delivery and answer as over NATS, minus four socket writes and the bus's own work. Undefined
   * when another process (or none) holds it: the caller then asks over the bus.
   */
  readonly request: LocalDeviceRequester = (subject, request, timeoutMs) => {
    const dot = subject.lastIndexOf('.');
    const held = this.#local.get(subject.slice(0, dot));
    if (!held) return undefined;
    return new Promise<MethodReply | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      timer.unref(); // a shutdown closes the connection, which answers every request it holds
      held.claimant.deliver(
        subject.slice(dot + 1),
        new LocalRequest(subject, request, (reply) => {
          clearTimeout(timer);
          resolve(reply);
        }),
      );
    });
  };

  /** The C2D delivery of an identity this process holds, if it takes C2D messages now. */
  c2dOf(hub: string, deviceId: string, moduleId: string): C2DPump | undefined {
    return this.#local.get(subjects.identity(hub, deviceId, moduleId || undefined))?.claimant.c2d?.();
  }

  /** Live local connections of a device and its modules. */
  localOf(hub: string, deviceId: string): Claimant[] {
    const device = subjects.identity(hub, deviceId);
    const modules = subjects.modulesOf(hub, deviceId);
    return [...this.#local.entries()].filter(([k]) => k === device || k.startsWith(modules)).map(([, v]) => v.claimant);
  }

}
