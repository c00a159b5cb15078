import type { DeviceMessage } from '../session/presence.js';
import { randomUUID } from 'node:crypto';
import rhea, { type Receiver, type Sender } from 'rhea';
import { headers as busHeaders } from '@openiothub/bus';
import type { DeviceAuthResult } from '../auth/device-auth.js';
import type { C2DPump } from '../c2d/pump.js';
import { PendingMethods } from '../methods/pending.js';
import type { Presence } from '../session/presence.js';
import type { ConnectionReporter } from '../upstream/connection-reporter.js';
import type { Principal } from './cbs.js';

/**
 * An AMQP connection's state and the devices on it: which principals (CBS tokens, certificates)
 * it holds, each device's presence claim, C2D pump and method/twin links, and what reaches a
 * device from the bus (method requests, desired patches). The endpoint (server.ts) handles the
 * protocol events; this is what they change.
 */

/** What a device session needs from the gateway. */
export type SessionDeps = { readonly presence: Presence; readonly reporter: ConnectionReporter };

export type Link = Sender | Receiver;

/** A device (or module) with links on this connection: its presence claim and C2D pump. */
export interface DeviceSession {
  readonly auth: DeviceAuthResult;
  readonly links: Set<Link>;
  pump?: C2DPump | undefined;
  release?: () => void;
  /** Where method requests go (the device's receiver on …/methods/devicebound). */
  methodsOut?: Sender | undefined;
  readonly methods: PendingMethods;
  /** Where twin answers and desired pushes go (the device's receiver on …/twin). */
  twinOut?: Sender | undefined;
  /** The device asked for desired-property pushes (PUT /notifications/twin/properties/desired). */
  desired: boolean;
  /** Method requests that arrived while the device was still attaching its methods link. */
  readonly waitingMethods: Array<{ msg: DeviceMessage; timer: NodeJS.Timeout }>;
}

/** How long a method request waits for a connected device to attach its methods link (the SDK attaches it on onDeviceMethod). */
const METHOD_LINK_GRACE_MS = 2000;

/** Per-connection state. */
export interface ConnState {
  readonly id: string;
  hub: string | undefined;
  /** Whether the hub's IP filter lets this client in (decided once, after Open). */
  admitted: Promise<boolean>;
  readonly principals: Map<string, Principal>;
  readonly devices: Map<string, DeviceSession>;
  readonly cleanups: Array<() => void>;
  cbsReply?: Sender;
  /** Which principal each link depends on (closed when it expires). */
  readonly linkPrincipal: Map<Link, string>;
  /** Reply links of `$management` (the client's receivers), to answer on the one named in reply-to. */
  readonly managementReplies: Set<Sender>;
  /** What to stop when a link closes (partition readers, feedback and C2D pumps). */
  readonly linkStops: Map<Link, () => void>;
}

export const CONDITION = {
  unauthorized: 'amqp:unauthorized-access',
  notFound: 'amqp:not-found',
  conflict: 'com.microsoft:link-creation-conflict',
  internal: 'amqp:internal-error',
} as const;

export const idOf = (deviceId: string, moduleId: string | undefined) => JSON.stringify([deviceId, moduleId ?? '']);

export function findPrincipal(s: ConnState, pred: (p: Principal) => boolean): [string, Principal] | undefined {
  const now = Date.now();
  for (const [k, p] of s.principals) if (p.expiresAt > now && pred(p)) return [k, p];
  return undefined;
}

/** A device's first link on this connection claims its presence (one connection per identity, last wins). */
export async function joinDevice(deps: SessionDeps, s: ConnState, auth: DeviceAuthResult, link: Link | undefined): Promise<void> {
  const key = idOf(auth.deviceId, auth.moduleId);
  let d = s.devices.get(key);
  if (d) {
    if (link) d.links.add(link);
    return;
  }
  d = { auth, links: new Set(link ? [link] : []), methods: new PendingMethods(), desired: false, waitingMethods: [] };
  s.devices.set(key, d);
  const session = d;
  const closeLinks = (condition: string, description: string) => {
    for (const l of session.links) {
      try {
        l.close({ condition, description });
      } catch {
        /* gone */
      }
    }
    leaveDevice(deps, s, key);
  };
  const release = await deps.presence.claim(auth.hub, auth.deviceId, auth.moduleId, {
    connectionId: `${s.id}/${key}`,
    connectedAt: Date.now(),
    moduleId: auth.moduleId,
    kick: () => closeLinks(CONDITION.conflict, 'A newer connection of this identity exists.'),
    revoke: () => closeLinks(CONDITION.unauthorized, 'The identity was disabled or deleted.'),
    deliver: (kind, msg) => {
      if (kind === 'c2d') session.pump?.kick();
      else if (kind === 'method') deliverMethod(session, msg);
      else if (kind === 'desired') deliverDesired(session, msg);
      // device streams are signalled over MQTT only here: an AMQP device cannot be asked
      else if (kind === 'stream') PendingMethods.notOnline(msg, 'The device is connected over AMQP; device streams need its MQTT connection.');
    },
    c2d: () => session.pump,
  });
  if (s.devices.get(key) !== session) {
    release();
    return;
  }
  session.release = release;
  deps.reporter.report(auth.hub, auth.deviceId, auth.moduleId, true, `${s.id}/${key}`, new Date());
}

export function leaveDevice(deps: SessionDeps, s: ConnState, key: string): void {
  const d = s.devices.get(key);
  if (!d) return;
  s.devices.delete(key);
  d.pump?.stop();
  d.methods.abandonAll();
  for (const w of d.waitingMethods.splice(0)) {
    clearTimeout(w.timer);
    PendingMethods.notOnline(w.msg, 'The device disconnected.');
  }
  d.release?.();
  deps.reporter.report(d.auth.hub, d.auth.deviceId, d.auth.moduleId, false, `${s.id}/${key}`, new Date());
}

/** Close the links of a principal when its token expires (a renewal replaces it first). */
export function scheduleExpiry(s: ConnState, key: string, principal: Principal): void {
  const timer = setTimeout(
    () => {
      if (s.principals.get(key) !== principal) return; // renewed
      s.principals.delete(key);
      for (const [link, k] of s.linkPrincipal) {
        if (k !== key) continue;
        try {
          link.close({ condition: CONDITION.unauthorized, description: 'The token expired.' });
        } catch {
          /* gone */
        }
      }
    },
    Math.min(Math.max(principal.expiresAt - Date.now(), 0), 2_147_483_647),
  );
  timer.unref();
  s.cleanups.push(() => clearTimeout(timer));
}

/** A direct method request from the bus, to the device's methods receiver (sdk-compat §7). */
export function deliverMethod(d: DeviceSession, msg: DeviceMessage): void {
  const req = PendingMethods.parse(msg);
  if (!req) return;
  const out = d.methodsOut;
  if (!out) {
    // connected, but maybe still attaching its methods link: give it a moment
    const timer = setTimeout(() => {
      const i = d.waitingMethods.findIndex((w) => w.msg === msg);
      if (i !== -1) d.waitingMethods.splice(i, 1);
      PendingMethods.notOnline(msg, 'The device is connected but has not attached a direct-method link.');
    }, METHOD_LINK_GRACE_MS);
    timer.unref();
    d.waitingMethods.push({ msg, timer });
    return;
  }
  if (!out.is_open()) return PendingMethods.notOnline(msg, 'The device closed its direct-method link.');
  const rid = randomUUID();
  d.methods.add(rid, msg, req);
  out.send({
    body: rhea.message.data_section(Buffer.from(JSON.stringify(req.payload ?? null), 'utf8')),
    correlation_id: rid,
    application_properties: { 'IoThub-methodname': req.methodName },
  });
}

/** A desired patch from the twin service, pushed without a correlation id to a device that asked for them. */
export function deliverDesired(d: DeviceSession, msg: DeviceMessage): void {
  const out = d.twinOut;
  const version = msg.headers?.get(busHeaders.desiredVersion);
  if (!d.desired || !out || !out.is_open() || !version) return;
  out.send({ body: rhea.message.data_section(Buffer.from(msg.data)), message_annotations: { version: Number(version) } });
}
