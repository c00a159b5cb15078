import { ArgumentInvalidError } from '@openiothub/errors';
import { generateSymmetricKey, isValidSymmetricKey } from '@openiothub/auth';
import { randomInt } from 'node:crypto';

/** IoT Hub: case-sensitive, ≤128 chars, ASCII alphanumerics plus `- . + % _ # * ? ! ( ) , = @ $ '` (devguide §1.5). */
const ID_PATTERN = /^[A-Za-z0-9\-.+%_#*?!(),=@$']{1,128}$/;
/** IoT Hub: statusReason ≤128 characters, any UTF-8. */
export const MAX_STATUS_REASON = 128;
/** IoT Hub: up to 20 module identities per device. */
export const MAX_MODULES_PER_DEVICE = 20;
/** IoT Hub: list returns at most 1000 identities. */
export const MAX_LIST = 1000;

export const AUTH_TYPES = ['sas', 'selfSigned', 'certificateAuthority', 'none'] as const;
export type AuthType = (typeof AUTH_TYPES)[number];
export type DeviceStatus = 'enabled' | 'disabled';

export interface Authentication {
  readonly type: AuthType;
  readonly primaryKey: string;
  readonly secondaryKey: string;
  readonly primaryThumbprint: string;
  readonly secondaryThumbprint: string;
}

/** A stored device identity. */
export interface DeviceIdentity {
  readonly deviceId: string;
  readonly generationId: string;
  readonly version: number;
  readonly status: DeviceStatus;
  readonly statusReason: string;
  readonly statusUpdatedTime: Date;
  readonly connectionState: 'Connected' | 'Disconnected';
  readonly connectionStateUpdatedTime: Date | null;
  readonly lastActivityTime: Date | null;
  readonly cloudToDeviceMessageCount: number;
  readonly authentication: Authentication;
  readonly iotEdge: boolean;
  readonly deviceScope: string;
  readonly parentScopes: readonly string[];
}

/** A stored module identity. Modules have no status of their own (devguide §9.3). */
export interface ModuleIdentity {
  readonly deviceId: string;
  readonly moduleId: string;
  readonly generationId: string;
  readonly version: number;
  readonly connectionState: 'Connected' | 'Disconnected';
  readonly connectionStateUpdatedTime: Date | null;
  readonly lastActivityTime: Date | null;
  readonly cloudToDeviceMessageCount: number;
  readonly authentication: Authentication;
  readonly managedBy: string;
}

/** What a caller may set on a device. Read-only fields are not part of it. */
export interface DeviceInput {
  readonly deviceId: string;
  readonly status?: string | undefined;
  readonly statusReason?: string | undefined;
  readonly authentication?: Partial<Authentication> | undefined;
  readonly iotEdge?: boolean | undefined;
  readonly deviceScope?: string | undefined;
  readonly parentScopes?: readonly string[] | undefined;
}

/** What a caller may set on a module. */
export interface ModuleInput {
  readonly deviceId: string;
  readonly moduleId: string;
  readonly authentication?: Partial<Authentication> | undefined;
  readonly managedBy?: string | undefined;
}

/** Throw 400 unless `id` is a valid device or module id. */
export function assertIdentityId(id: unknown, what: 'deviceId' | 'moduleId'): asserts id is string {
  if (typeof id !== 'string' || id.length === 0) throw new ArgumentInvalidError(`${what} is required.`);
  if (id.length > 128) throw new ArgumentInvalidError(`${what} must be at most 128 characters.`, { [what]: id.slice(0, 16) });
  if (!ID_PATTERN.test(id)) {
    throw new ArgumentInvalidError(`${what} "${id}" contains a character that is not allowed; use ASCII letters, digits and - . + % _ # * ? ! ( ) , = @ $ '.`);
  }
}

/** The weak ETag IoT Hub shows for an identity version (base64 of the version number). */
export function etagOf(version: number): string {
  return Buffer.from(String(version)).toString('base64');
}

/** Parse an If-Match value: undefined (none), '*', or the version an etag encodes. Unknown etags never match. */
export function parseIfMatch(ifMatch: string | undefined): undefined | '*' | number {
  if (ifMatch === undefined) return undefined;
  const v = ifMatch.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  if (v === '*') return '*';
  const decoded = Buffer.from(v, 'base64').toString();
  return /^\d+$/.test(decoded) && etagOf(Number(decoded)) === v ? Number(decoded) : -1;
}

/** A new generationId: differs between a deleted device and its re-creation (devguide §9.2). */
export function newGenerationId(now = Date.now()): string {
  // the shape IoT Hub uses: an 18-digit decimal number
  return `${now}${String(randomInt(0, 100_000)).padStart(5, '0')}`.padStart(18, '6');
}

/** Validate a status value ('Enabled'/'enabled' accepted, stored lower-case). */
export function normalizeStatus(status: string | undefined, fallback: DeviceStatus): DeviceStatus {
  if (status === undefined || status === '') return fallback;
  const s = status.toLowerCase();
  if (s !== 'enabled' && s !== 'disabled') throw new ArgumentInvalidError(`status must be "enabled" or "disabled", not "${status}".`);
  return s;
}

/** Validate statusReason length (128 characters, any UTF-8). */
export function normalizeStatusReason(reason: string | undefined, fallback: string): string {
  if (reason === undefined) return fallback;
  if ([...reason].length > MAX_STATUS_REASON) throw new ArgumentInvalidError(`statusReason must be at most ${MAX_STATUS_REASON} characters.`);
  return reason;
}

const THUMBPRINT = /^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/;

/**
 * Validate and complete authentication. SAS keys are generated when both are absent: on create
 * always; on update the existing keys are kept (a status change must not rotate a device's keys).
 */
export function normalizeAuthentication(input: Partial<Authentication> | undefined, existing?: Authentication): Authentication {
  const type = (input?.type ?? existing?.type ?? 'sas') as AuthType;
  if (!AUTH_TYPES.includes(type)) throw new ArgumentInvalidError(`authentication.type must be one of ${AUTH_TYPES.join(', ')}.`);
  const empty = { primaryKey: '', secondaryKey: '', primaryThumbprint: '', secondaryThumbprint: '' };
  if (type === 'sas') {
    let primaryKey = input?.primaryKey ?? '';
    let secondaryKey = input?.secondaryKey ?? '';
    if (!primaryKey && !secondaryKey && existing?.type === 'sas') {
      ({ primaryKey, secondaryKey } = existing);
    }
    for (const [name, key] of [['primaryKey', primaryKey], ['secondaryKey', secondaryKey]] as const) {
      if (key && !isValidSymmetricKey(key)) throw new ArgumentInvalidError(`authentication.symmetricKey.${name} must be base64 of 16 to 64 bytes.`);
    }
    return { ...empty, type, primaryKey: primaryKey || generateSymmetricKey(), secondaryKey: secondaryKey || generateSymmetricKey() };
  }
  if (type === 'selfSigned') {
    const primaryThumbprint = (input?.primaryThumbprint ?? '').toUpperCase();
    const secondaryThumbprint = (input?.secondaryThumbprint ?? '').toUpperCase();
    if (!primaryThumbprint && !secondaryThumbprint) throw new ArgumentInvalidError('A selfSigned device needs a primary or secondary thumbprint.');
    for (const t of [primaryThumbprint, secondaryThumbprint]) {
      if (t && !THUMBPRINT.test(t)) throw new ArgumentInvalidError('Thumbprints must be 40 (SHA-1) or 64 (SHA-256) hex characters.');
    }
    return { ...empty, type, primaryThumbprint, secondaryThumbprint };
  }
  return { ...empty, type };
}
