import type { DeviceMessage } from '../session/presence.js';
import { randomUUID, type X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import type { DeviceAuthResult } from '../auth/device-auth.js';
import type { ConnectionContext } from '../telemetry/d2c-ingest.js';
import type { MqttDeps } from './deps.js';
import { classifyPublish, parsePropertyBag, type Identity, type SubscriptionKind } from './topics.js';
import { messagingV1 } from '@openiothub/proto';
import { C2DPump } from '../c2d/pump.js';
import { c2dTopic } from '../c2d/wire.js';
import { handleConnect } from './connect.js';
import { deliverMethodRequest, deliverStreamRequest } from './methods.js';
import { PendingMethods } from '../methods/pending.js';
import { deliverDesired } from './twin.js';
import { handlePublish, type PendingAck } from './publish.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe.js';
import type { DpsMqttSession } from '../dps/mqtt-session.js';

/** Why a connection ended, for logs and metrics (IoT Hub's Connections log codes, protocols-ops §7.4). */
export type CloseReason =
  | 'client-disconnect'
  | 'network'
  | 'keepalive-timeout'
  | 'token-expired'
  | 'link-creation-conflict'
  | 'device-disabled'
  | 'protocol-violation'
  | 'auth-failed'
  | 'server-shutdown'
  | 'telemetry-failed'
  | 'slow-consumer';

/** Bytes written to a client and not yet taken by it before the connection is cut (a slow consumer). */
const MAX_UNREAD_BYTES = 8 * 1024 * 1024;

/** Where a connection came from. */
export interface ConnectionInfo {
  readonly transport: 'mqtt' | 'mqtt-ws';
  readonly remoteAddress: string | undefined;
  /** The client certificate chain of the TLS socket underneath (X.509 devices). */
  readonly peerChain?: () => X509Certificate[];
}

/** The connection's state after a successful CONNECT. */
export interface Established {
  readonly auth: DeviceAuthResult;
  /** System properties this connection stamps on its telemetry. */
  readonly telemetry: ConnectionContext;
  readonly identity: Identity;
  readonly clientId: string;
  readonly modelId: string | undefined;
  readonly cleanSession: boolean;
  readonly subscriptions: Set<SubscriptionKind>;
  readonly will: IConnectPacket['will'] | undefined;
  release: () => void;
}

/**
 * One MQTT 3.1.1 connection (TLS socket or WebSocket stream): parses packets, dispatches them to
 * one handler per packet type, writes answers coalesced per tick, and owns the timers
 * (keep-alive, token expiry). Handlers live in connect.ts, publish.ts and subscribe.ts.
 */
export class MqttConnection {
  readonly id = randomUUID();
  readonly connectedAt = Date.now();
  readonly deps: MqttDeps;
  readonly transport: 'mqtt' | 'mqtt-ws';
  readonly remoteAddress: string | undefined;
  /** The TLS client certificate chain the peer presented (leaf first), [] when none. */
  readonly peerChain: () => X509Certificate[];
  readonly #stream: Duplex;
  readonly #parser = mqttPacket.parser({ protocolVersion: 4 });
  /** QoS 1 telemetry PUBACKs in arrival order; sent only from the head (MQTT 3.1.1 §4.6). */
  readonly pendingAcks: PendingAck[] = [];
  /** Direct method requests sent to the device, by $rid. */
  readonly pendingMethods = new PendingMethods();
  #requestIds = 0;
  #packetIds = 0;
  /** Cloud-to-device delivery, while the connection is subscribed to C2D or module inputs. */
  #c2d: C2DPump | undefined;
  /** The C2D delivery awaiting its PUBACK (the PUBACK completes it). */
  #c2dInFlight: { packetId: number; lockToken: string } | undefined;
  established: Established | undefined;
  /** Set instead of `established` for a Device Provisioning Service client. */
  #dps: DpsMqttSession | undefined;
  #state: 'new' | 'connecting' | 'open' | 'closed' = 'new';
  #backlog: Packet[] = [];
  #keepAliveMs = 0;
  #keepAliveTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #corked = false;
  #paused = false;

  constructor(stream: Duplex, deps: MqttDeps, info: ConnectionInfo) {
    this.#stream = stream;
    this.deps = deps;
    this.transport = info.transport;
    this.remoteAddress = info.remoteAddress;
    this.peerChain = info.peerChain ?? (() => []);
    this.#parser.on('packet', (p: Packet) => this.#onPacket(p));
    this.#parser.on('error', (err: Error) => this.close('protocol-violation', err.message));
    stream.on('data', (chunk: Buffer) => {
      this.#touch();
      this.#parser.parse(chunk);
    });
    stream.on('error', () => this.close('network'));
    stream.on('close', () => this.close('network'));
    // CONNECT must arrive promptly (MQTT 3.1.1 §3.1: a server SHOULD close otherwise); bytes
    // dribbled before it do not extend the deadline
    this.#armKeepAlive(deps.authDeadlineMs);
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Write a packet; writes in one tick go out in one TLS record. */
  send(packet: Packet): void {
    if (this.#state === 'closed' || this.#stream.destroyed) return;
    if (!this.#corked) {
      this.#corked = true;
      this.#stream.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#stream.uncork();
      });
    }
    this.#stream.write(mqttPacket.generate(packet, { protocolVersion: 4 }));
    // a client that stops reading (a slow consumer) must not make the gateway buffer without bound
    if (this.#stream.writableLength > MAX_UNREAD_BYTES) this.close('slow-consumer', `${this.#stream.writableLength} bytes unread`);
  }

  /** A fresh `$rid` for a request this hub sends to the device. */
  nextRequestId(): string {
    this.#requestIds += 1;
    return this.#requestIds.toString(16);
  }

  /** A packet identifier for a QoS 1 PUBLISH this hub sends (1…65535). */
  nextPacketId(): number {
    this.#packetIds = (this.#packetIds % 65535) + 1;
    return this.#packetIds;
  }

  /** The C2D delivery, while the client is subscribed to C2D (devices) or inputs (modules). */
  get c2d(): C2DPump | undefined {
    return this.#c2d;
  }

  /** A device-directed message from the bus (presence routes it here). */
  deliver(kind: string, msg: DeviceMessage): void {
    if (kind === 'method') deliverMethodRequest(this, msg);
    else if (kind === 'stream') deliverStreamRequest(this, msg);
    else if (kind === 'desired') deliverDesired(this, msg);
    else if (kind === 'c2d') this.#c2d?.kick();
  }

  #onPuback(packetId: number): void {
    const f = this.#c2dInFlight;
    if (!f || f.packetId !== packetId) return;
    this.#c2dInFlight = undefined;
    this.#c2d?.settle(f.lockToken, messagingV1.Outcome.OUTCOME_COMPLETE);
  }

  /** Start or stop C2D delivery to match the subscriptions (C2D for devices, inputs for modules). */
  syncC2D(): void {
    const subs = this.established?.subscriptions;
    const wanted = this.#state === 'open' && !!subs && (subs.has('c2d') || subs.has('inputs'));
    if (wanted && !this.#c2d) {
      const { auth } = this.established!;
      this.#c2d = new C2DPump({
        messaging: this.deps.messaging,
        log: this.deps.log,
        key: { hub: auth.hub, deviceId: auth.deviceId, moduleId: auth.moduleId ?? '' },
        generationId: auth.generationId,
        deliver: (m) => {
          const packetId = this.nextPacketId();
          this.#c2dInFlight = { packetId, lockToken: m.lockToken };
          this.send({ cmd: 'publish', topic: c2dTopic(auth.deviceId, auth.moduleId, m), payload: m.body, qos: 1, messageId: packetId, retain: false, dup: false });
        },
      });
      this.#c2d.kick();
    } else if (!wanted && this.#c2d) {
      this.#c2d.stop();
      this.#c2d = undefined;
      this.#c2dInFlight = undefined;
    }
  }

  /** Stop reading until resume() (back-pressure while telemetry waits for JetStream). */
  pause(): void {
    if (!this.#paused) {
      this.#paused = true;
      this.#stream.pause();
    }
  }

  resume(): void {
    if (this.#paused && this.#state !== 'closed') {
      this.#paused = false;
      this.#stream.resume();
    }
  }

  /** Called by the CONNECT handler once authenticated. */
  open(established: Established, keepAliveSeconds: number): void {
    this.established = established;
    this.#state = 'open';
    const cap = this.deps.maxKeepAliveSeconds;
    const k = keepAliveSeconds === 0 ? cap : Math.min(keepAliveSeconds, cap);
    this.#keepAliveMs = k * 1500; // 1.5 × keep-alive (MQTT 3.1.1 §3.1.2.10)
    this.#armKeepAlive(this.#keepAliveMs);
    const untilExpiry = established.auth.expiresAt - Date.now();
    // the hub severs a connection when its token expires (devguide §10.5)
    this.#expiryTimer = setTimeout(() => this.close('token-expired'), Math.min(Math.max(untilExpiry, 0), 2_147_483_647));
    this.#expiryTimer.unref();
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const p of backlog) this.#dispatch(p);
    this.resume();
    // a persistent session restores the C2D subscription: messages queued while offline go out now
    this.syncC2D();
  }

  /** Called by the DPS CONNECT handler once the registration's token checked out. */
  openDps(session: DpsMqttSession, keepAliveSeconds: number, expiresAtMs: number): void {
    this.#dps = session;
    this.#state = 'open';
    const k = keepAliveSeconds === 0 ? this.deps.maxKeepAliveSeconds : Math.min(keepAliveSeconds, this.deps.maxKeepAliveSeconds);
    this.#keepAliveMs = k * 1500;
    this.#armKeepAlive(this.#keepAliveMs);
    this.#expiryTimer = setTimeout(() => this.close('token-expired'), Math.min(Math.max(expiresAtMs - Date.now(), 0), 2_147_483_647));
    this.#expiryTimer.unref();
    this.send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const p of backlog) session.handle(p);
    this.resume();
  }

  #touch(): void {
    if (this.#keepAliveMs > 0) this.#armKeepAlive(this.#keepAliveMs);
  }

  #armKeepAlive(ms: number): void {
    clearTimeout(this.#keepAliveTimer);
    this.#keepAliveTimer = setTimeout(() => this.close('keepalive-timeout'), ms);
    this.#keepAliveTimer.unref();
  }

  #onPacket(p: Packet): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'new') {
      if (p.cmd !== 'connect') return this.close('protocol-violation', 'the first packet must be CONNECT');
      this.#state = 'connecting';
      this.pause();
      // a failure nobody foresaw (the bus gone, say) refuses this client; it never takes the process down
      handleConnect(this, p as IConnectPacket).catch((err: unknown) => {
        this.deps.log.error({ category: 'Connections', err, clientId: (p as IConnectPacket).clientId }, 'MQTT CONNECT failed unexpectedly');
        if (!this.closed) this.send({ cmd: 'connack', returnCode: 3, sessionPresent: false });
        this.close('auth-failed', 'internal error');
      });
      return;
    }
    if (p.cmd === 'connect') return this.close('protocol-violation', 'a second CONNECT');
    if (this.#state === 'connecting') {
      this.#backlog.push(p);
      return;
    }
    this.#dispatch(p);
  }

  #dispatch(p: Packet): void {
    if (this.#dps) return this.#dps.handle(p);
    switch (p.cmd) {
      case 'publish':
        return handlePublish(this, p);
      case 'subscribe':
        return void handleSubscribe(this, p);
      case 'unsubscribe':
        return void handleUnsubscribe(this, p);
      case 'pingreq':
        return this.send({ cmd: 'pingresp' });
      case 'puback':
        return this.#onPuback(p.messageId as number);
      case 'disconnect':
        return this.close('client-disconnect');
      default:
        return this.close('protocol-violation', `unexpected ${p.cmd}`);
    }
  }

  /**
   * End the connection. Without a prior DISCONNECT the will (if any) is sent as telemetry
   * (protocols-ops §1.4). Idempotent.
   */
  close(reason: CloseReason, detail?: string): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    clearTimeout(this.#keepAliveTimer);
    clearTimeout(this.#expiryTimer);
    // flush what is written (a refusing CONNACK), then close; destroy if the peer does not let go
    if (this.#corked) {
      this.#corked = false;
      this.#stream.uncork();
    }
    this.#stream.end();
    setTimeout(() => this.#stream.destroy(), 1000).unref();
    const est = this.established;
    if (!est || !wasOpen) return;
    est.release();
    this.pendingMethods.abandonAll();
    this.#c2d?.stop();
    const { log, metrics, reporter } = this.deps;
    metrics.connections.dec({ transport: this.transport });
    reporter.report(est.auth.hub, est.auth.deviceId, est.auth.moduleId, false, this.id, new Date());
    log.info({ category: 'Connections', hub: est.auth.hub, deviceId: est.auth.deviceId, moduleId: est.auth.moduleId, reason, detail, connectionId: this.id }, 'device disconnected');
    if (reason !== 'client-disconnect' && est.will) {
      void this.#sendWill(est);
    }
  }

  async #sendWill(est: Established): Promise<void> {
    const will = est.will!;
    try {
      const target = classifyPublish(will.topic, est.identity);
      const bag = target.kind === 'telemetry' ? parsePropertyBag(target.bag) : undefined;
      await this.deps.ingest.send(
        est.telemetry,
        { body: will.payload as Buffer, system: bag?.system ?? {}, application: { ...(bag?.application ?? {}), 'iothub-MessageType': 'Will' } },
      );
    } catch (err) {
      this.deps.log.warn({ category: 'Connections', err, hub: est.auth.hub, deviceId: est.auth.deviceId }, 'will message not delivered');
    }
  }
}
