import type { Server, TLSSocket } from 'node:tls';
import { listenTls } from '../tls-listener.js';
import rhea, { type Connection, type Container, type Delivery, type EventContext, type Sender } from 'rhea';
import type { WebSocket } from 'ws';
import { peerChain } from '@openiothub/auth';
import type { NatsConnection } from '@openiothub/bus';
import { toDomainError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import { messagingV1 } from '@openiothub/proto';
import type { DeviceAuthenticator } from '../auth/device-auth.js';
import type { HubResolver } from '../auth/hub-resolver.js';
import type { IpFilterGuard } from '../auth/ip-filter-cache.js';
import type { Throttle } from '../throttle/throttle.js';
import type { ConnectionGuard } from '../guard/connection-guard.js';
import type { ServiceAuthorizer } from '../auth/service-auth.js';
import { C2DPump } from '../c2d/pump.js';
import type { Presence } from '../session/presence.js';
import type { D2CIngest } from '../telemetry/d2c-ingest.js';
import type { ConnectionReporter } from '../upstream/connection-reporter.js';
import type { MessagingClient } from '../upstream/messaging-client.js';
import type { TwinClient } from '../upstream/twin-client.js';
import type { X509Certificate } from 'node:crypto';
import { classifyAddress } from './addresses.js';
import { EventHubsReader } from './eventhubs.js';
import { PartitionReaders } from './partition-readers.js';
import { guardedSocket, MAX_FRAME_SIZE } from './frame-guard.js';
import { FeedbackPump, type ServiceQueueName } from './feedback-pump.js';
import { admitX509, answerPutToken, authorizeLink, tierAllowsLink } from './admission.js';
import { takeMessage } from './incoming.js';
import { CONDITION, deliverMethod, idOf, leaveDevice, type ConnState, type Link } from './device-sessions.js';
import { answerManagement } from './management.js';
import type { PolicyCache } from '../upstream/policy-cache.js';
import type { RegistryClient } from '../upstream/registry-client.js';
import type { HubInfo } from '@openiothub/bus';
import { c2dToAmqp } from './messages.js';

/** Everything the AMQP endpoint needs from the gateway. */
export interface AmqpDeps {
  readonly log: Logger;
  readonly hubs: HubResolver;
  readonly ipFilter: IpFilterGuard;
  readonly throttle: Throttle;
  /** How long an open connection may go without authenticating anything (a $cbs token or a client certificate). */
  readonly authDeadlineMs: number;
  readonly deviceAuth: DeviceAuthenticator;
  readonly serviceAuth: ServiceAuthorizer;
  readonly ingest: D2CIngest;
  readonly messaging: MessagingClient;
  readonly twin: TwinClient;
  readonly presence: Presence;
  readonly reporter: ConnectionReporter;
  readonly nc: NatsConnection;
  readonly policies: PolicyCache;
  readonly registry: RegistryClient;
  /** Each hub's partition count and retention (the Event Hubs-compatible endpoint). */
  readonly hubInfo: HubInfo;
  /** The port redirects name (this endpoint's own). */
  readonly amqpPort: number;
}

/** What a delivery we sent is, so its disposition can be acted on. */
type SentDelivery = { kind: 'c2d'; pump: C2DPump; lockToken: string } | { kind: 'feedback'; pump: FeedbackPump; lockToken: string };

/** Credit each authorized receiver link keeps open to its peer. */
const RECEIVER_CREDIT = 500;



/**
 * The AMQP 1.0 endpoint (sdk-compat §7, §8.2) over TLS (5671) and WebSockets (`AMQPWSB10` on
 * 443): claims-based auth on `$cbs`, device links (telemetry, C2D) and service links (C2D send,
 * feedback). Devices hold presence like MQTT ones, so nudges and kicks reach them here too.
 */
export class AmqpEndpoint {
  readonly #deps: AmqpDeps;
  readonly #container: Container;
  readonly #states = new WeakMap<Connection, ConnState>();
  readonly #sent = new WeakMap<Delivery, SentDelivery>();
  readonly #open = new Set<Connection>();
  /** The TLS client certificate chain of each connection (X.509 devices attach links without CBS). */
  readonly #peerChains = new WeakMap<Connection, () => X509Certificate[]>();
  /** Client addresses of TLS connections (WebSocket ones passed the IP filter at the upgrade). */
  readonly #remotes = new WeakMap<Connection, string | undefined>();
  readonly #eventHubs: EventHubsReader;
  readonly #readers: PartitionReaders;
  #nextId = 0;

  constructor(deps: AmqpDeps) {
    this.#deps = deps;
    this.#eventHubs = new EventHubsReader({ nc: deps.nc, log: deps.log });
    this.#readers = new PartitionReaders({ messaging: deps.messaging, hubInfo: deps.hubInfo, eventHubs: this.#eventHubs });
    // receivers get credit only once their link is authorized (#onPeerSender): a link that is refused
    // or redirected never lets the peer send (the legacy Event Hubs client relies on it, spec §6.3)
    this.#container = rhea.create_container({ id: 'openiothub-gateway', autoaccept: false, credit_window: 0 } as never);
    // accept SASL ANONYMOUS (and the MSSBCBS alias) and bare AMQP headers alike: the IoT SDKs send no SASL layer
    this.#container.sasl_server_mechanisms.enable_anonymous();
    this.#container.sasl_server_mechanisms['MSSBCBS'] = this.#container.sasl_server_mechanisms['ANONYMOUS'];
    const c = this.#container;
    c.on('connection_open', (ctx: EventContext) => this.#guard(ctx, () => this.#onConnectionOpen(ctx)));
    c.on('receiver_open', (ctx: EventContext) => this.#guard(ctx, () => this.#onPeerSender(ctx)));
    c.on('sender_open', (ctx: EventContext) => this.#guard(ctx, () => this.#onPeerReceiver(ctx)));
    c.on('message', (ctx: EventContext) => this.#guard(ctx, () => this.#onMessage(ctx)));
    c.on('accepted', (ctx: EventContext) => this.#onDisposition(ctx, messagingV1.Outcome.OUTCOME_COMPLETE));
    c.on('rejected', (ctx: EventContext) => this.#onDisposition(ctx, messagingV1.Outcome.OUTCOME_REJECT));
    c.on('released', (ctx: EventContext) => this.#onDisposition(ctx, messagingV1.Outcome.OUTCOME_ABANDON));
    c.on('modified', (ctx: EventContext) => this.#onDisposition(ctx, messagingV1.Outcome.OUTCOME_ABANDON));
    c.on('sendable', (ctx: EventContext) => this.#onSendable(ctx));
    c.on('sender_close', (ctx: EventContext) => this.#onLinkClosed(ctx, ctx.sender));
    c.on('receiver_close', (ctx: EventContext) => this.#onLinkClosed(ctx, ctx.receiver));
    c.on('disconnected', (ctx: EventContext) => this.#onGone(ctx.connection));
    c.on('connection_close', (ctx: EventContext) => this.#onGone(ctx.connection));
    c.on('error', (err: unknown) => this.#deps.log.warn({ category: 'Connections', err }, 'AMQP error'));
    // a peer's malformed frames end its connection; one debug line, not rhea's console dump of the bytes
    c.on('protocol_error', (ctx: EventContext) => this.#deps.log.debug({ category: 'Connections', err: (ctx as unknown as { error?: unknown }).error }, 'AMQP protocol error from a peer'));
  }

  /** Serve one accepted TLS socket. */
  acceptSocket(socket: TLSSocket): void {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    // rhea buffers a frame of whatever size it is told: the guard cuts a connection announcing more than we advertise
    const wrapped = guardedSocket(socket, (err) => this.#deps.log.info({ category: 'Connections', err: err.message, remote: socket.remoteAddress }, 'AMQP connection cut'));
    const conn = this.#container.create_connection({ idle_time_out: 120_000, max_frame_size: MAX_FRAME_SIZE } as never) as unknown as Connection & { accept(s: unknown): void };
    this.#peerChains.set(conn, () => peerChain(socket));
    this.#remotes.set(conn, socket.remoteAddress);
    conn.accept(wrapped);
  }

  /** Serve one WebSocket (subprotocol AMQPWSB10). */
  acceptWebSocket(ws: WebSocket): void {
    // rhea's websocket_accept does not hand the connection back: find it on connection_open
    this.#container.websocket_accept(ws as never, { idle_time_out: 120_000, max_frame_size: MAX_FRAME_SIZE } as never);
  }

  /** Close every connection (shutdown). */
  closeAll(): void {
    for (const conn of this.#open) {
      try {
        conn.close({ condition: 'amqp:connection:forced', description: 'The gateway is shutting down.' });
      } catch {
        /* already gone */
      }
      this.#onGone(conn);
    }
  }

  #state(conn: Connection): ConnState {
    let s = this.#states.get(conn);
    if (!s) {
      this.#nextId += 1;
      s = { id: `amqp-${process.pid}-${this.#nextId}`, hub: undefined, admitted: Promise.resolve(true), principals: new Map(), devices: new Map(), cleanups: [], linkPrincipal: new Map(), managementReplies: new Set(), linkStops: new Map() };
      this.#states.set(conn, s);
      this.#open.add(conn);
    }
    return s;
  }

  /** Run a handler; any failure closes the link (or connection) with an AMQP error, never the process. */
  #guard(ctx: EventContext, fn: () => void | Promise<void>): void {
    const fail = (err: unknown) => {
      const e = toDomainError(err);
      if (e.code === 'ServerError') this.#deps.log.error({ category: 'Connections', err: e.cause ?? e }, 'AMQP handler failed');
      const link = ctx.receiver ?? ctx.sender;
      try {
        if (link) link.close({ condition: e.spec.amqp, description: e.message });
        else ctx.connection.close({ condition: e.spec.amqp, description: e.message });
      } catch {
        /* already closed */
      }
    };
    try {
      const r = fn();
      if (r) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  #onConnectionOpen(ctx: EventContext): void {
    const s = this.#state(ctx.connection);
    const hostname = (ctx.connection as unknown as { remote?: { open?: { hostname?: string } } }).remote?.open?.hostname;
    try {
      s.hub = this.#deps.hubs.resolve(hostname);
    } catch {
      ctx.connection.close({ condition: CONDITION.notFound, description: `No hub at host ${hostname ?? '(none)'}.` });
      return;
    }
    // a slow or idle client: a connection that authenticated nothing (no $cbs token, no certificate) in time is closed
    const deadline = setTimeout(() => {
      if (s.principals.size === 0) ctx.connection.close({ condition: CONDITION.unauthorized, description: `Nothing was authenticated within ${this.#deps.authDeadlineMs / 1000} s of the open.` });
    }, this.#deps.authDeadlineMs);
    deadline.unref();
    s.cleanups.push(() => clearTimeout(deadline));
    // the IP filter (WebSocket connections passed it at the upgrade): nothing is authorized before it answers
    if (!this.#remotes.has(ctx.connection)) return;
    s.admitted = this.#deps.ipFilter.check(s.hub, this.#remotes.get(ctx.connection)).then(
      () => true,
      () => {
        ctx.connection.close({ condition: CONDITION.unauthorized, description: 'Unauthorized' });
        return false;
      },
    );
  }

  // ---- links the peer sends on (we receive) ----

  async #onPeerSender(ctx: EventContext): Promise<void> {
    const link = ctx.receiver!;
    const target = classifyAddress(link.target?.address, true);
    if (target.kind === 'legacy-events') return this.#redirect(ctx, link, target.rest);
    if (!(await admitX509(this.#deps, this.#state(ctx.connection), () => this.#peerChains.get(ctx.connection)?.() ?? [], link, target))) return;
    if (target.kind !== 'cbs' && !authorizeLink(this.#deps, this.#state(ctx.connection), link, target)) return;
    if (!(await tierAllowsLink(this.#deps, this.#state(ctx.connection), link, target))) return;
    link.set_credit_window(RECEIVER_CREDIT);
    link.add_credit(RECEIVER_CREDIT);
  }

  /**
   * IoT Hub answers links on `messages/events…` with a redirect to the Event Hubs-compatible
   * endpoint (spec §6.3): attach, then detach with `amqp:link:redirect` and where to go — here the
   * same host and port, entity = the hub.
   */
  #redirect(ctx: EventContext, link: Link, rest: string): void {
    const s = this.#state(ctx.connection);
    const host = (ctx.connection as unknown as { remote?: { open?: { hostname?: string } } }).remote?.open?.hostname ?? 'localhost';
    const port = this.#deps.amqpPort;
    link.close({
      condition: 'amqp:link:redirect',
      description: `Use the Event Hubs-compatible endpoint ${s.hub}.`,
      info: { hostname: host, 'network-host': host, port: rhea.types.wrap_int(port), address: `amqps://${host}:${port}/${s.hub}/${rest}` },
    } as never);
  }

  // ---- links the peer receives on (we send) ----

  async #onPeerReceiver(ctx: EventContext): Promise<void> {
    const link = ctx.sender!;
    const target = classifyAddress(link.source?.address, false);
    const s = this.#state(ctx.connection);
    if (target.kind === 'cbs') {
      s.cbsReply = link;
      return;
    }
    if (target.kind === 'legacy-events') return this.#redirect(ctx, link, target.rest);
    if (!(await admitX509(this.#deps, this.#state(ctx.connection), () => this.#peerChains.get(ctx.connection)?.() ?? [], link, target))) return;
    if (!authorizeLink(this.#deps, this.#state(ctx.connection), link, target)) return;
    if (!(await tierAllowsLink(this.#deps, this.#state(ctx.connection), link, target))) return;
    if (target.kind === 'device-c2d') this.#startC2D(ctx, link, target.deviceId, target.moduleId);
    else if (target.kind === 'device-methods' || target.kind === 'device-twin') {
      const d = s.devices.get(idOf(target.deviceId, target.moduleId));
      if (d && target.kind === 'device-methods') {
        d.methodsOut = link;
        for (const w of d.waitingMethods.splice(0)) {
          clearTimeout(w.timer);
          deliverMethod(d, w.msg);
        }
      }
      if (d && target.kind === 'device-twin') d.twinOut = link;
    }
    else if (target.kind === 'service-feedback') this.#startFeedback(ctx, link, 'feedback');
    else if (target.kind === 'service-file-notifications') this.#startFeedback(ctx, link, 'fileNotifications');
    else if (target.kind === 'eh-management') s.managementReplies.add(link);
    else if (target.kind === 'eh-partition') await this.#startPartitionReader(s, link, target.partition, target.consumerGroup);
  }

  #startC2D(ctx: EventContext, link: Sender, deviceId: string, moduleId: string | undefined): void {
    const s = this.#state(ctx.connection);
    const d = s.devices.get(idOf(deviceId, moduleId));
    if (!d) return;
    let pending: messagingV1.C2DMessage | undefined;
    const sendNow = (m: messagingV1.C2DMessage) => {
      const delivery = link.send(c2dToAmqp(m));
      this.#sent.set(delivery, { kind: 'c2d', pump, lockToken: m.lockToken });
    };
    const pump = new C2DPump({
      messaging: this.#deps.messaging,
      log: this.#deps.log,
      key: { hub: d.auth.hub, deviceId, moduleId: moduleId ?? '' },
      generationId: d.auth.generationId,
      deliver: (m) => {
        if (link.sendable()) sendNow(m);
        else pending = m;
      },
    });
    (link as Sender & { openiothubFlush?: () => void }).openiothubFlush = () => {
      if (pending && link.sendable()) {
        const m = pending;
        pending = undefined;
        sendNow(m);
      }
    };
    d.pump?.stop();
    d.pump = pump;
    // the receiver link closing (the device stops taking C2D) hands an unsettled delivery back at once
    s.linkStops.set(link, () => {
      pump.stop();
      if (d.pump === pump) d.pump = undefined;
    });
    pump.kick();
  }

  #startFeedback(ctx: EventContext, link: Sender, queue: ServiceQueueName): void {
    const s = this.#state(ctx.connection);
    const pump = new FeedbackPump(this.#deps, s.hub!, link, (delivery, lockToken) => this.#sent.set(delivery, { kind: 'feedback', pump, lockToken }), queue);
    (link as Sender & { openiothubFlush?: () => void }).openiothubFlush = () => pump.kick();
    s.linkStops.set(link, () => pump.stop());
    pump.kick();
  }

  #onSendable(ctx: EventContext): void {
    (ctx.sender as (Sender & { openiothubFlush?: () => void }) | undefined)?.openiothubFlush?.();
  }

  #onDisposition(ctx: EventContext, outcome: messagingV1.Outcome): void {
    const sent = ctx.delivery ? this.#sent.get(ctx.delivery) : undefined;
    if (!sent) return;
    this.#sent.delete(ctx.delivery!);
    if (sent.kind === 'c2d') sent.pump.settle(sent.lockToken, outcome);
    else sent.pump.settle(sent.lockToken, outcome);
  }

  // ---- incoming messages ----

  async #onMessage(ctx: EventContext): Promise<void> {
    const link = ctx.receiver!;
    const delivery = ctx.delivery!;
    const message = ctx.message!;
    const s = this.#state(ctx.connection);
    const target = classifyAddress(link.target?.address, true);
    if (target.kind === 'cbs') return answerPutToken(this.#deps, s, message, delivery);
    if (target.kind === 'eh-management') return answerManagement({ hubInfo: this.#deps.hubInfo, log: this.#deps.log, eventHubs: this.#eventHubs }, s, link, message, delivery);
    const principalKey = s.linkPrincipal.get(link);
    const principal = principalKey ? s.principals.get(principalKey) : undefined;
    if (!principal || principal.expiresAt <= Date.now()) {
      delivery.reject({ condition: CONDITION.unauthorized, description: 'The token for this link expired; put a new one on $cbs.' });
      link.close({ condition: CONDITION.unauthorized, description: 'The token for this link expired.' });
      return;
    }
    await takeMessage(this.#deps, s, target, principal, message, delivery);
  }

  async #startPartitionReader(s: ConnState, link: Sender, partitionId: string, group: string): Promise<void> {
    await this.#readers.start(s.hub!, link, partitionId, group, (stop) => s.linkStops.set(link, stop));
  }

  #onLinkClosed(ctx: EventContext, link: Link | undefined): void {
    if (!link) return;
    const s = this.#states.get(ctx.connection);
    if (!s) return;
    s.linkPrincipal.delete(link);
    s.managementReplies.delete(link as Sender);
    s.linkStops.get(link)?.();
    s.linkStops.delete(link);
    for (const [key, d] of s.devices) {
      if (!d.links.delete(link)) continue;
      if (d.methodsOut === link) {
        d.methodsOut = undefined;
        d.methods.abandonAll();
      }
      if (d.twinOut === link) d.twinOut = undefined;
      if (d.links.size === 0) leaveDevice(this.#deps, s, key);
    }
  }

  #onGone(conn: Connection): void {
    this.#open.delete(conn);
    const s = this.#states.get(conn);
    if (!s) return;
    this.#states.delete(conn);
    for (const key of [...s.devices.keys()]) leaveDevice(this.#deps, s, key);
    for (const stop of s.linkStops.values()) stop();
    for (const c of s.cleanups) c();
  }

  get container(): Container {
    return this.#container;
  }
}

/** AMQP over TLS (5671). */
export function listenAmqps(opts: { host: string; port: number; cert: string; key: string; endpoint: AmqpEndpoint; guard?: ConnectionGuard }): Promise<{ server: Server; port: number }> {
  return listenTls({ ...opts, protocol: 'AMQP', portSetting: 'AMQP_PORT', onSocket: (socket) => opts.endpoint.acceptSocket(socket) });
}
