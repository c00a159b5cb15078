import { ArgumentInvalidError } from '@openiothub/errors';
import * as registryV1 from './gen/openiothub/registry/v1/registry.js';

/** IoT Hub writes "never" as the .NET minimum date. */
const NEVER = '0001-01-01T00:00:00Z';
const iso = (d: Date | undefined) => (d ? d.toISOString() : NEVER);

type Json = Record<string, unknown>;

function authToJson(a: registryV1.Authentication | undefined): Json {
  return {
    symmetricKey: { primaryKey: a?.symmetricKey?.primaryKey || null, secondaryKey: a?.symmetricKey?.secondaryKey || null },
    x509Thumbprint: {
      primaryThumbprint: a?.x509Thumbprint?.primaryThumbprint || null,
      secondaryThumbprint: a?.x509Thumbprint?.secondaryThumbprint || null,
    },
    type: a?.type ?? 'sas',
  };
}

/** A device as the IoT Hub REST API shows it. */
export function deviceToJson(d: registryV1.Device): Json {
  return {
    deviceId: d.deviceId,
    generationId: d.generationId,
    etag: d.etag,
    connectionState: d.connectionState,
    status: d.status,
    statusReason: d.statusReason || null,
    connectionStateUpdatedTime: iso(d.connectionStateUpdatedTime),
    statusUpdatedTime: iso(d.statusUpdatedTime),
    lastActivityTime: iso(d.lastActivityTime),
    cloudToDeviceMessageCount: d.cloudToDeviceMessageCount,
    authentication: authToJson(d.authentication),
    capabilities: { iotEdge: d.iotEdge },
    deviceScope: d.deviceScope || undefined,
    parentScopes: d.parentScopes,
  };
}

/** A module as the IoT Hub REST API shows it. */
export function moduleToJson(m: registryV1.Module): Json {
  return {
    moduleId: m.moduleId,
    managedBy: m.managedBy || null,
    deviceId: m.deviceId,
    generationId: m.generationId,
    etag: m.etag,
    connectionState: m.connectionState,
    connectionStateUpdatedTime: iso(m.connectionStateUpdatedTime),
    lastActivityTime: iso(m.lastActivityTime),
    cloudToDeviceMessageCount: m.cloudToDeviceMessageCount,
    authentication: authToJson(m.authentication),
  };
}

function asObject(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ArgumentInvalidError(`${what} must be a JSON object.`);
  return v as Json;
}

function optString(o: Json, key: string, what: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ArgumentInvalidError(`${what}.${key} must be a string.`);
  return v;
}

function authFromJson(v: unknown): registryV1.Authentication | undefined {
  if (v === undefined || v === null) return undefined;
  const a = asObject(v, 'authentication');
  const sk = a['symmetricKey'] == null ? {} : asObject(a['symmetricKey'], 'authentication.symmetricKey');
  const tp = a['x509Thumbprint'] == null ? {} : asObject(a['x509Thumbprint'], 'authentication.x509Thumbprint');
  return registryV1.Authentication.fromPartial({
    type: optString(a, 'type', 'authentication') ?? '',
    symmetricKey: {
      primaryKey: optString(sk, 'primaryKey', 'authentication.symmetricKey') ?? '',
      secondaryKey: optString(sk, 'secondaryKey', 'authentication.symmetricKey') ?? '',
    },
    x509Thumbprint: {
      primaryThumbprint: optString(tp, 'primaryThumbprint', 'authentication.x509Thumbprint') ?? '',
      secondaryThumbprint: optString(tp, 'secondaryThumbprint', 'authentication.x509Thumbprint') ?? '',
    },
  });
}

/**
 * Read a device from a REST body. The id in the body, when present, must equal the path's (ids are
 * read-only on update). `idKey` is `deviceId`, or `id` in bulk operations.
 */
export function deviceFromJson(v: unknown, pathId: string | undefined, idKey: 'deviceId' | 'id' = 'deviceId'): registryV1.Device {
  const o = asObject(v, 'The device');
  const bodyId = optString(o, idKey, 'device');
  if (pathId !== undefined && bodyId !== undefined && bodyId !== pathId) {
    throw new ArgumentInvalidError(`The ${idKey} in the body ("${bodyId}") does not match the one in the path ("${pathId}"); it cannot be changed.`);
  }
  const caps = o['capabilities'] == null ? {} : asObject(o['capabilities'], 'capabilities');
  const iotEdge = caps['iotEdge'];
  if (iotEdge !== undefined && typeof iotEdge !== 'boolean') throw new ArgumentInvalidError('capabilities.iotEdge must be true or false.');
  const parentScopes = o['parentScopes'];
  if (parentScopes !== undefined && parentScopes !== null && (!Array.isArray(parentScopes) || parentScopes.some((s) => typeof s !== 'string'))) {
    throw new ArgumentInvalidError('parentScopes must be an array of strings.');
  }
  return registryV1.Device.fromPartial({
    deviceId: pathId ?? bodyId ?? '',
    status: optString(o, 'status', 'device') ?? '',
    statusReason: optString(o, 'statusReason', 'device') ?? '',
    authentication: authFromJson(o['authentication']),
    iotEdge: iotEdge ?? false,
    deviceScope: optString(o, 'deviceScope', 'device') ?? '',
    parentScopes: (parentScopes as string[] | undefined) ?? [],
  });
}

/** Read a module from a REST body; device and module ids in the body must equal the path's. */
export function moduleFromJson(v: unknown, deviceId: string, moduleId: string): registryV1.Module {
  const o = asObject(v, 'The module');
  for (const [key, expected] of [['deviceId', deviceId], ['moduleId', moduleId]] as const) {
    const got = optString(o, key, 'module');
    if (got !== undefined && got !== expected) throw new ArgumentInvalidError(`The ${key} in the body ("${got}") does not match the path ("${expected}").`);
  }
  if (o['status'] !== undefined && o['status'] !== null) throw new ArgumentInvalidError('Module identities have no status; they cannot be disabled.');
  return registryV1.Module.fromPartial({
    deviceId,
    moduleId,
    authentication: authFromJson(o['authentication']),
    managedBy: optString(o, 'managedBy', 'module') ?? '',
  });
}
