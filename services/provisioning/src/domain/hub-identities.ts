import { DomainError } from '@openiothub/errors';
import { registryV1, type PromiseClient, type twinV1 } from '@openiothub/proto';
import { isObject, type JsonObject } from './documents.js';

type RegistryClient = PromiseClient<registryV1.RegistryServiceClient>;
type TwinClient = PromiseClient<twinV1.TwinServiceClient>;

/** How the device authenticates to its hub: the enrollment's (or derived) keys, or certificate thumbprints. */
export type IdentityAuth =
  | { readonly type: 'sas'; readonly primaryKey: string; readonly secondaryKey: string }
  | { readonly type: 'selfSigned'; readonly primaryThumbprint: string; readonly secondaryThumbprint: string };

/** The credentials and flags a registration gives the device in its hub. */
export interface DeviceCredentials {
  readonly deviceId: string;
  readonly auth: IdentityAuth;
  readonly iotEdge: boolean;
}

function authenticationOf(a: IdentityAuth): registryV1.Authentication {
  return a.type === 'sas'
    ? registryV1.Authentication.fromPartial({ type: 'sas', symmetricKey: { primaryKey: a.primaryKey, secondaryKey: a.secondaryKey } })
    : registryV1.Authentication.fromPartial({ type: 'selfSigned', x509Thumbprint: { primaryThumbprint: a.primaryThumbprint, secondaryThumbprint: a.secondaryThumbprint } });
}

/** The identity auth a registry device has now (to move it between hubs as it is). */
export function identityAuthOf(device: registryV1.Device): IdentityAuth | undefined {
  const a = device.authentication;
  if (a?.type === 'sas' && a.symmetricKey) return { type: 'sas', primaryKey: a.symmetricKey.primaryKey, secondaryKey: a.symmetricKey.secondaryKey };
  if (a?.type === 'selfSigned' && a.x509Thumbprint) return { type: 'selfSigned', primaryThumbprint: a.x509Thumbprint.primaryThumbprint, secondaryThumbprint: a.x509Thumbprint.secondaryThumbprint };
  return undefined;
}

function sameAuth(device: registryV1.Device, a: IdentityAuth): boolean {
  const current = identityAuthOf(device);
  return current !== undefined && JSON.stringify(current) === JSON.stringify(a);
}

/** What a device's twin carries from one hub to another (reprovisioning with migration). */
export interface TwinData {
  readonly tags: JsonObject | undefined;
  readonly desired: JsonObject | undefined;
  readonly reported: JsonObject | undefined;
}

function withoutSystem(section: unknown): JsonObject | undefined {
  if (!isObject(section)) return undefined;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(section)) if (!k.startsWith('$')) out[k] = v;
  return out;
}

/**
 * Identities and twins in the linked hubs, through the registry and twin services: what DPS does
 * to a hub when it assigns, moves or fails over a device.
 */
export class HubIdentities {
  constructor(
    private readonly registry: RegistryClient,
    private readonly twin: TwinClient,
  ) {}

  async find(hub: string, deviceId: string): Promise<registryV1.Device | undefined> {
    try {
      return (await this.registry.getDevice({ hub, deviceId })).device;
    } catch (err) {
      if (err instanceof DomainError && err.spec.http === 404) return undefined;
      throw err;
    }
  }

  /**
   * Create the device with the enrollment's credentials, or bring an existing one's credentials and
   * edge flag up to date. A device an operator disabled stays disabled: DPS does not lift that block.
   */
  async ensure(hub: string, cred: DeviceCredentials): Promise<{ created: boolean; disabled: boolean }> {
    const existing = await this.find(hub, cred.deviceId);
    const authentication = authenticationOf(cred.auth);
    if (!existing) {
      try {
        await this.registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId: cred.deviceId, status: 'enabled', authentication, iotEdge: cred.iotEdge }) });
        return { created: true, disabled: false };
      } catch (err) {
        if (!(err instanceof DomainError && err.code === 'DeviceAlreadyExists')) throw err;
        return this.ensure(hub, cred);
      }
    }
    if (existing.status === 'disabled') return { created: false, disabled: true };
    if (!sameAuth(existing, cred.auth) || existing.iotEdge !== cred.iotEdge) {
      await this.registry.putDevice({ hub, device: { ...existing, authentication, iotEdge: cred.iotEdge }, ifMatch: existing.etag });
    }
    return { created: false, disabled: false };
  }

  async readTwin(hub: string, deviceId: string): Promise<TwinData> {
    const twin = JSON.parse((await this.twin.getTwin({ key: { hub, deviceId, moduleId: '' } })).twinJson) as JsonObject;
    const props = isObject(twin['properties']) ? twin['properties'] : {};
    return { tags: withoutSystem(twin['tags']), desired: withoutSystem(props['desired']), reported: withoutSystem(props['reported']) };
  }

  /** Write twin sections (those given replace the device's) and the model id, in one twin write. */
  async writeTwin(hub: string, deviceId: string, data: Partial<TwinData> & { modelId?: string | undefined }): Promise<void> {
    const properties: JsonObject = {};
    if (data.desired) properties['desired'] = data.desired;
    if (data.reported) properties['reported'] = data.reported;
    const doc: JsonObject = { properties };
    if (data.tags) doc['tags'] = data.tags;
    if (data.modelId) doc['modelId'] = data.modelId;
    if (!data.tags && !data.desired && !data.reported && !data.modelId) return;
    await this.twin.importTwin({ key: { hub, deviceId, moduleId: '' }, twinJson: JSON.stringify(doc) });
  }

  async remove(hub: string, deviceId: string): Promise<void> {
    try {
      await this.registry.deleteDevice({ hub, deviceId });
    } catch (err) {
      if (!(err instanceof DomainError && err.spec.http === 404)) throw err;
    }
  }
}
