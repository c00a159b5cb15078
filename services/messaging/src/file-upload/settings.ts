import { ArgumentInvalidError } from '@openiothub/errors';
import { formatIsoDuration, parseIsoDuration } from '../domain/settings.js';

/** A hub's file-upload settings (devguide §8.3), durations in milliseconds. */
export interface FileUploadSettings {
  readonly enableNotifications: boolean;
  /** Azure Blob connection string of the storage endpoint; empty: file upload is not configured. */
  readonly connectionString: string;
  readonly containerName: string;
  /** How long a SAS handed to a device is valid (and the upload counts as outstanding). */
  readonly sasTtlMs: number;
  readonly notificationTtlMs: number;
  readonly notificationLockMs: number;
  readonly notificationMaxDeliveryCount: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** IoT Hub's defaults: notifications on, kept 1 h, locked 60 s, 100 deliveries; SAS valid 1 h. */
export function defaultFileUploadSettings(storage: { connectionString: string; containerName: string }): FileUploadSettings {
  return { enableNotifications: true, ...storage, sasTtlMs: HOUR, notificationTtlMs: HOUR, notificationLockMs: MINUTE, notificationMaxDeliveryCount: 100 };
}

/** The settings as ARM shows them (`storageEndpoints.$default`, `messagingEndpoints.fileNotifications`). */
export function fileUploadToJson(s: FileUploadSettings): Record<string, unknown> {
  return {
    enableFileUploadNotifications: s.enableNotifications,
    storageEndpoints: { $default: { connectionString: s.connectionString, containerName: s.containerName, sasTtlAsIso8601: formatIsoDuration(s.sasTtlMs) } },
    messagingEndpoints: {
      fileNotifications: { lockDurationAsIso8601: formatIsoDuration(s.notificationLockMs), ttlAsIso8601: formatIsoDuration(s.notificationTtlMs), maxDeliveryCount: s.notificationMaxDeliveryCount },
    },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Applies a partial ARM-shaped document to `base`, refusing values outside IoT Hub's ranges. */
export function fileUploadFromJson(json: unknown, base: FileUploadSettings): FileUploadSettings {
  if (!isObject(json)) throw new ArgumentInvalidError('The file upload settings must be a JSON object.');
  let s = { ...base };
  const enable = json['enableFileUploadNotifications'];
  if (enable !== undefined) {
    if (typeof enable !== 'boolean') throw new ArgumentInvalidError('enableFileUploadNotifications must be true or false.');
    s = { ...s, enableNotifications: enable };
  }
  const storage = isObject(json['storageEndpoints']) ? json['storageEndpoints']['$default'] : undefined;
  if (isObject(storage)) {
    const cs = storage['connectionString'];
    if (cs !== undefined) {
      if (typeof cs !== 'string' || (cs !== '' && !/AccountName=[^;]+/.test(cs)) || (cs !== '' && !/AccountKey=[^;]+/.test(cs))) {
        throw new ArgumentInvalidError('storageEndpoints.$default.connectionString must be an Azure Storage connection string with AccountName and AccountKey.');
      }
      s = { ...s, connectionString: cs };
    }
    const container = storage['containerName'];
    if (container !== undefined) {
      if (typeof container !== 'string' || !/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(container)) {
        throw new ArgumentInvalidError('storageEndpoints.$default.containerName must be a blob container name: 3-63 lowercase letters, digits and single hyphens.');
      }
      s = { ...s, containerName: container };
    }
    if (storage['sasTtlAsIso8601'] !== undefined) s = { ...s, sasTtlMs: duration(storage['sasTtlAsIso8601'], 'sasTtlAsIso8601', MINUTE, 24 * HOUR, 'PT1M', 'P1D') };
  }
  const fileNotifications = isObject(json['messagingEndpoints']) ? json['messagingEndpoints']['fileNotifications'] : undefined;
  if (isObject(fileNotifications)) {
    const f = fileNotifications;
    if (f['ttlAsIso8601'] !== undefined) s = { ...s, notificationTtlMs: duration(f['ttlAsIso8601'], 'fileNotifications.ttlAsIso8601', MINUTE, 48 * HOUR, 'PT1M', 'PT48H') };
    if (f['lockDurationAsIso8601'] !== undefined) s = { ...s, notificationLockMs: duration(f['lockDurationAsIso8601'], 'fileNotifications.lockDurationAsIso8601', 5000, 300_000, 'PT5S', 'PT300S') };
    const count = f['maxDeliveryCount'];
    if (count !== undefined) {
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 100) throw new ArgumentInvalidError('fileNotifications.maxDeliveryCount must be between 1 and 100.');
      s = { ...s, notificationMaxDeliveryCount: count };
    }
  }
  return s;
}

function duration(v: unknown, name: string, min: number, max: number, minText: string, maxText: string): number {
  if (typeof v !== 'string') throw new ArgumentInvalidError(`${name} must be an ISO 8601 duration.`);
  const ms = parseIsoDuration(v, name);
  if (ms < min || ms > max) throw new ArgumentInvalidError(`${name} must be between ${minText} and ${maxText}.`);
  return ms;
}
