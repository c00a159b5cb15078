import type { registryV1 } from '@openiothub/proto';
import { etagOf, type Authentication, type DeviceIdentity, type DeviceInput, type ModuleIdentity, type ModuleInput } from '../domain/identity.js';
import type { PolicyRow } from '../store/registry-store.js';

/** proto ↔ domain translation for the registry's gRPC surface. */

function authToProto(a: Authentication): registryV1.Authentication {
  return {
    type: a.type,
    symmetricKey: { primaryKey: a.primaryKey, secondaryKey: a.secondaryKey },
    x509Thumbprint: { primaryThumbprint: a.primaryThumbprint, secondaryThumbprint: a.secondaryThumbprint },
  };
}

function authFromProto(a: registryV1.Authentication | undefined): Partial<Authentication> | undefined {
  if (!a) return undefined;
  return {
    type: (a.type || undefined) as Authentication['type'] | undefined,
    primaryKey: a.symmetricKey?.primaryKey ?? '',
    secondaryKey: a.symmetricKey?.secondaryKey ?? '',
    primaryThumbprint: a.x509Thumbprint?.primaryThumbprint ?? '',
    secondaryThumbprint: a.x509Thumbprint?.secondaryThumbprint ?? '',
  };
}

/** An identity as a service that needs no credentials sees it: without its symmetric keys. */
export function withoutKeys<T extends { authentication?: registryV1.Authentication | undefined }>(identity: T): T {
  return identity.authentication ? { ...identity, authentication: { ...identity.authentication, symmetricKey: undefined } } : identity;
}

export function deviceToProto(d: DeviceIdentity): registryV1.Device {
  return {
    deviceId: d.deviceId,
    generationId: d.generationId,
    etag: etagOf(d.version),
    status: d.status,
    statusReason: d.statusReason,
    statusUpdatedTime: d.statusUpdatedTime,
    connectionState: d.connectionState,
    connectionStateUpdatedTime: d.connectionStateUpdatedTime ?? undefined,
    lastActivityTime: d.lastActivityTime ?? undefined,
    cloudToDeviceMessageCount: d.cloudToDeviceMessageCount,
    authentication: authToProto(d.authentication),
    iotEdge: d.iotEdge,
    deviceScope: d.deviceScope,
    parentScopes: [...d.parentScopes],
    version: d.version,
  };
}

export function deviceFromProto(d: registryV1.Device | undefined): DeviceInput {
  return {
    deviceId: d?.deviceId ?? '',
    status: d?.status || undefined,
    statusReason: d?.statusReason,
    authentication: authFromProto(d?.authentication),
    iotEdge: d?.iotEdge,
    deviceScope: d?.deviceScope || undefined,
    parentScopes: d?.parentScopes.length ? d.parentScopes : undefined,
  };
}

export function moduleToProto(m: ModuleIdentity): registryV1.Module {
  return {
    deviceId: m.deviceId,
    moduleId: m.moduleId,
    generationId: m.generationId,
    etag: etagOf(m.version),
    connectionState: m.connectionState,
    connectionStateUpdatedTime: m.connectionStateUpdatedTime ?? undefined,
    lastActivityTime: m.lastActivityTime ?? undefined,
    cloudToDeviceMessageCount: m.cloudToDeviceMessageCount,
    authentication: authToProto(m.authentication),
    managedBy: m.managedBy,
  };
}

export function moduleFromProto(m: registryV1.Module | undefined): ModuleInput {
  return {
    deviceId: m?.deviceId ?? '',
    moduleId: m?.moduleId ?? '',
    authentication: authFromProto(m?.authentication),
    managedBy: m?.managedBy || undefined,
  };
}

export function policyToProto(p: PolicyRow): registryV1.SharedAccessPolicy {
  return { keyName: p.keyName, primaryKey: p.primaryKey, secondaryKey: p.secondaryKey, rights: [...p.rights] };
}
