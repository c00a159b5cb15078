import { connectClient, registryV1 } from '@openiothub/proto';
import type { IdentityInfo, IdentitySource } from '../domain/twin-service.js';

const NEVER = '0001-01-01T00:00:00Z';
const iso = (d: Date | undefined) => (d ? d.toISOString() : NEVER);

/** Identities from the registry's gRPC API. */
export function registryIdentities(url: string): IdentitySource & { close(): void } {
  const client = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, url);
  return {
    close: () => client.close(),
    async get(hub, deviceId, moduleId): Promise<IdentityInfo> {
      const device = (await client.getDevice({ hub, deviceId })).device!;
      const module = moduleId ? (await client.getModule({ hub, deviceId, moduleId })).module! : undefined;
      const src = module ?? device;
      const auth = src.authentication;
      return {
        deviceId,
        moduleId,
        generationId: src.generationId,
        deviceEtag: src.etag,
        status: device.status,
        statusReason: device.statusReason,
        statusUpdateTime: iso(device.statusUpdatedTime),
        connectionState: src.connectionState,
        lastActivityTime: iso(src.lastActivityTime),
        cloudToDeviceMessageCount: src.cloudToDeviceMessageCount,
        authenticationType: auth?.type ?? 'sas',
        x509Thumbprint: {
          primaryThumbprint: auth?.x509Thumbprint?.primaryThumbprint || null,
          secondaryThumbprint: auth?.x509Thumbprint?.secondaryThumbprint || null,
        },
        iotEdge: device.iotEdge,
      };
    },
  };
}
