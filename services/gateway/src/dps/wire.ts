import { randomUUID } from 'node:crypto';
import { toDomainError, type DomainError } from '@openiothub/errors';

/** DPS device API version the SDKs speak (sdk-compat §9). */
export const DPS_DEVICE_API_VERSION = '2019-03-31';

/**
 * The DPS error body: `{errorCode, trackingId, message, timestampUtc}` with the six-digit code
 * (401002 …), not IoT Hub's `{Message: "ErrorCode:…"}`. The SDKs decide by the status code.
 */
export function dpsError(err: unknown, now: Date = new Date()): { status: number; body: { errorCode: number; trackingId: string; message: string; timestampUtc: string }; domain: DomainError } {
  const domain = toDomainError(err);
  return {
    status: domain.spec.http,
    body: { errorCode: domain.spec.numeric, trackingId: randomUUID(), message: domain.message, timestampUtc: now.toISOString() },
    domain,
  };
}

/** `{idScope}/registrations/{registrationId}/api-version=…` → its parts, or undefined. */
export function parseDpsUsername(username: string): { idScope: string; registrationId: string; params: URLSearchParams } | undefined {
  const m = /^([^/]+)\/registrations\/([^/]+)\/(.*)$/.exec(username);
  if (!m) return undefined;
  return { idScope: m[1]!, registrationId: m[2]!, params: new URLSearchParams(m[3]!) };
}

/** What a device PUBLISH on a `$dps/…` topic asks for. */
export type DpsRequest =
  | { readonly kind: 'register'; readonly rid: string }
  | { readonly kind: 'status'; readonly rid: string; readonly operationId: string }
  | { readonly kind: 'unknown' };

/** `$dps/registrations/PUT/iotdps-register/?$rid=…` and `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=…&operationId=…`. */
export function classifyDpsPublish(topic: string): DpsRequest {
  const q = topic.indexOf('?');
  const path = q < 0 ? topic : topic.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : topic.slice(q + 1));
  const rid = params.get('$rid') ?? '';
  if (!rid) return { kind: 'unknown' };
  if (path === '$dps/registrations/PUT/iotdps-register/') return { kind: 'register', rid };
  if (path === '$dps/registrations/GET/iotdps-get-operationstatus/') {
    const operationId = params.get('operationId') ?? '';
    return operationId ? { kind: 'status', rid, operationId } : { kind: 'unknown' };
  }
  return { kind: 'unknown' };
}

/** The response topic the SDK matches with `^\$dps\/registrations\/res\/(.*)\/\?(.*)$`. */
export function dpsResponseTopic(status: number, rid: string, retryAfterSeconds?: number): string {
  return `$dps/registrations/res/${status}/?$rid=${encodeURIComponent(rid)}${retryAfterSeconds ? `&retry-after=${retryAfterSeconds}` : ''}`;
}

/** The device's register body: `{registrationId, payload?}`; the id must be the connection's. */
export function parseRegisterBody(body: Buffer | string, registrationId: string): { payloadJson: string } | { error: string } {
  const text = body.toString();
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    return { error: 'The registration request body is not valid JSON.' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { error: 'The registration request body must be a JSON object.' };
  const o = parsed as Record<string, unknown>;
  if (o['registrationId'] !== undefined && o['registrationId'] !== registrationId) return { error: 'registrationId in the body differs from the one the device authenticated as.' };
  if (o['tpm'] !== undefined) return { error: 'TPM attestation is not supported by this service.' };
  return { payloadJson: o['payload'] === undefined ? '' : JSON.stringify(o['payload']) };
}

/** The first answer to a register: the device polls `operationId` after retry-after. */
export function assigningBody(operation: { operationId: string }): { operationId: string; status: 'assigning' } {
  return { operationId: operation.operationId, status: 'assigning' };
}
