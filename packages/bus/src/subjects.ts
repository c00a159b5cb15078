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
  /**
   * Core NATS (not stored): an identity's credentials or status changed; gateways drop cached
   * lookups and disconnect a disabled device.
   */
  identityChanged: (hub: string, deviceId: string) => `reg.${subjectToken(hub)}.changed.${subjectToken(deviceId)}`,
  /** Every identity change of every hub (wildcard for gateways). */
  identityChangedAll: () => 'reg.*.changed.>',
} as const;

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
} as const;
