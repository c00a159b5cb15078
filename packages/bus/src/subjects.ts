/**
 * Every NATS subject and JetStream stream name of Open IoT Hub is spelled here and nowhere else
 * (ARCHITECTURE.md "Contracts between services").
 */

/**
 * Make any string safe as one subject token. Device ids may contain `.`, `*`, `>` and other
 * characters NATS gives meaning to, so everything outside `[A-Za-z0-9_-]` is percent-encoded.
 * Injective, so two ids never share a subject.
 */
export function subjectToken(value: string): string {
  let out = '';
  for (const ch of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(ch);
    out += /[A-Za-z0-9_-]/.test(c) ? c : '%' + ch.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Inverse of {@link subjectToken}. */
export function fromSubjectToken(token: string): string {
  return decodeURIComponent(token);
}

/** JetStream streams and the subjects they capture. */
export const streams = {
  /** Non-telemetry events: device/module lifecycle, connection state, twin changes. */
  EVENTS: { name: 'EVENTS', subjects: ['evt.>'] },
} as const;



export type StreamName = keyof typeof streams;

/** Subject builders. */
export const subjects = {
  /** Device or module lifecycle notification (create/delete), stream EVENTS. */
  lifecycle: (hub: string, deviceId: string, moduleId?: string) =>
    `evt.${subjectToken(hub)}.lifecycle.${subjectToken(deviceId)}` + (moduleId ? `.${subjectToken(moduleId)}` : ''),
  /** Every lifecycle event of a hub (wildcard for consumers). */
  lifecycleAll: (hub: string) => `evt.${subjectToken(hub)}.lifecycle.>`,
  /** Every event of a hub in stream EVENTS (lifecycle, connection, twin changes). */
  eventsOf: (hub: string) => `evt.${subjectToken(hub)}.>`,
  /**
   * Core NATS (not stored): an identity's credentials or status changed; gateways drop cached
   * lookups and disconnect a disabled device.
   */
  identityChanged: (hub: string, deviceId: string) => `reg.${subjectToken(hub)}.changed.${subjectToken(deviceId)}`,
  /** Every identity change of every hub (wildcard for gateways). */
  identityChangedAll: () => 'reg.*.changed.>',
  /** Core NATS: a hub's settings the gateway enforces (IP filter, SKU for throttling) changed: gateways drop their copy. */
  hubSettingsChanged: (hub: string) => `reg.${subjectToken(hub)}.settings`,
  hubSettingsChangedAll: () => 'reg.*.settings',
  /**
   * Telemetry as devices send it, before routing: stream INGEST_{hub}_{partition} (a work queue the
   * routing service drains into endpoints). The gateway acknowledges a device once it is stored here.
   */
  ingest: (hub: string, partition: number) => `ingest.${subjectToken(hub)}.${partition}`,
  /** Every ingest partition of every hub (stream discovery by routing processes). */
  ingestAll: () => 'ingest.>',
  /** Telemetry of a hub's partition in the built-in endpoint (`events`), stream D2C_{hub}_{partition}. */
  d2c: (hub: string, partition: number) => `d2c.${subjectToken(hub)}.${partition}`,
  /** Every partition of a hub's telemetry. */
  d2cAll: (hub: string) => `d2c.${subjectToken(hub)}.*`,
  /** Connection-state events (deviceConnected / deviceDisconnected), stream EVENTS. */
  connection: (hub: string, deviceId: string, moduleId?: string) =>
    `evt.${subjectToken(hub)}.connection.${subjectToken(deviceId)}` + (moduleId ? `.${subjectToken(moduleId)}` : ''),
  /** Twin change notifications (updateTwin / replaceTwin), stream EVENTS. */
  twinChange: (hub: string, deviceId: string, moduleId?: string) =>
    `evt.${subjectToken(hub)}.twin.${subjectToken(deviceId)}` + (moduleId ? `.${subjectToken(moduleId)}` : ''),
  /**
   * Core NATS, device-directed: the prefix every gateway holding an identity's connection
   * subscribes to (`{prefix}.>`). A device and each of its modules are separate identities.
   */
  identity: (hub: string, deviceId: string, moduleId?: string) =>
    moduleId ? `mod.${subjectToken(hub)}.${subjectToken(deviceId)}.${subjectToken(moduleId)}` : `dev.${subjectToken(hub)}.${subjectToken(deviceId)}`,
  /** The common prefix of every module identity of a device (`mod.{hub}.{device}.`). */
  modulesOf: (hub: string, deviceId: string) => `mod.${subjectToken(hub)}.${subjectToken(deviceId)}.`,
  /** "A newer connection of this identity exists": the holder of an older one closes it. */
  kick: (identityPrefix: string) => `${identityPrefix}.kick`,
  /** Direct method request (core NATS request/reply), answered by the gateway holding the identity. */
  method: (identityPrefix: string) => `${identityPrefix}.method`,
  /** Device stream request (core NATS request/reply, same shapes as methods), answered by the gateway holding the device. */
  streamRequest: (identityPrefix: string) => `${identityPrefix}.stream`,
  /** Desired-property patch to push to the identity, if connected and subscribed. */
  desired: (identityPrefix: string) => `${identityPrefix}.desired`,
  /** "Cloud-to-device messages are waiting": the gateway holding the identity pulls the next one. */
  c2d: (identityPrefix: string) => `${identityPrefix}.c2d`,
  /** A hub's NATS/JetStream routing endpoint: what routes send it, stream EP_{hub}_{endpoint} (a queue for any JetStream client). */
  endpoint: (hub: string, endpoint: string) => `ep.${subjectToken(hub)}.${subjectToken(endpoint.toLowerCase())}`,
  /** Internal: messages routed to a hub's webhook or blob endpoint, waiting for its deliverer (stream RT_{hub}_{endpoint}). */
  routed: (hub: string, endpoint: string) => `rt.${subjectToken(hub)}.${subjectToken(endpoint.toLowerCase())}`,
  /** Every routed-but-undelivered subject (stream discovery by routing processes). */
  routedAll: () => 'rt.>',
  /** Core NATS: a hub's routing configuration changed; routing processes reload it. */
  routingChanged: (hub: string) => `routing.${subjectToken(hub)}.changed`,
  routingChangedAll: () => 'routing.*.changed',
  /** Every twin change of every hub (routing drops cached twins). */
  twinChangeAll: () => 'evt.*.twin.>',
  /** Core NATS: a hub's feedback queue got a message (service-side receivers wake up). */
  feedback: (hub: string) => `msg.${subjectToken(hub)}.feedback`,
  /** "File-upload notifications are waiting": service receivers of the hub pull the next one. */
  fileNotifications: (hub: string) => `msg.${subjectToken(hub)}.filenotifications`,
} as const;

/** The hub and device an `identityChanged` subject names, or undefined for another subject. */
export function parseIdentityChanged(subject: string): { hub: string; deviceId: string } | undefined {
  const [kind, hub, changed, device] = subject.split('.');
  if (kind !== 'reg' || changed !== 'changed' || !hub || !device) return undefined;
  return { hub: fromSubjectToken(hub), deviceId: fromSubjectToken(device) };
}

/** The hub and device a device-twin `twinChange` subject names; undefined for module twins and other subjects. */
export function parseTwinChange(subject: string): { hub: string; deviceId: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'evt' || parts[2] !== 'twin') return undefined;
  return { hub: fromSubjectToken(parts[1]!), deviceId: fromSubjectToken(parts[3]!) };
}

/** The hub a `routingChanged` subject names. */
export function parseRoutingChanged(subject: string): string | undefined {
  const [kind, hub, changed] = subject.split('.');
  return kind === 'routing' && changed === 'changed' && hub ? fromSubjectToken(hub) : undefined;
}

/** Hub and partition of an ingest stream name (`INGEST_{hub}_{partition}`). */
export function parseIngestStream(name: string): { hub: string; partition: number } | undefined {
  const m = /^INGEST_(.+)_(\d+)$/.exec(name);
  return m ? { hub: fromSubjectToken(m[1]!), partition: Number(m[2]) } : undefined;
}

/** The D2C partition of a device: a stable hash of the device id (the same for its modules). */
export function partitionOf(deviceId: string, partitions: number): number {
  // FNV-1a, 32 bit
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

/** Header names used on bus messages. */
export const headers = {
  /** JetStream de-duplication id. */
  msgId: 'Nats-Msg-Id',
  messageSchema: 'iothub-message-schema',
  opType: 'opType',
  hubName: 'hubName',
  deviceId: 'deviceId',
  moduleId: 'moduleId',
  operationTimestamp: 'operationTimestamp',
  messageSource: 'iothub-message-source',
  /** On a desired push: the desired `$version` the patch brings the twin to (no JSON parse needed to route it). */
  desiredVersion: 'Iothub-Desired-Version',
} as const;

/**
 * Device-to-cloud telemetry: one stream per hub and partition (`d2c.{hub}.{partition}`), so a
 * message's stream sequence is its sequence number within its partition — contiguous, as Event
 * Hubs readers expect — and each hub keeps its own retention. Created on first use
 * ({@link ensureD2CStreams}).
 */
export const d2cStream = (hub: string, partition: number) => ({ name: `D2C_${subjectToken(hub)}_${partition}`, subject: subjects.d2c(hub, partition) });

/** A hub partition's ingest stream (see {@link subjects.ingest}); created with the D2C streams. */
export const ingestStream = (hub: string, partition: number) => ({ name: `INGEST_${subjectToken(hub)}_${partition}`, subject: subjects.ingest(hub, partition) });

/** A NATS routing endpoint's stream (see {@link subjects.endpoint}). */
export const endpointStream = (hub: string, endpoint: string) => ({ name: `EP_${subjectToken(hub)}_${subjectToken(endpoint.toLowerCase())}`, subject: subjects.endpoint(hub, endpoint) });

/** A webhook or blob endpoint's delivery backlog (see {@link subjects.routed}). */
export const routedStream = (hub: string, endpoint: string) => ({ name: `RT_${subjectToken(hub)}_${subjectToken(endpoint.toLowerCase())}`, subject: subjects.routed(hub, endpoint) });

/** The stream of the pre-partition layout (every hub in one stream capturing `d2c.>`), removed on sight. */
export const LEGACY_D2C_STREAM = 'D2C';
