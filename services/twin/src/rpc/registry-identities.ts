import { batchedCall, connectClient, itemsOf, registryV1 } from '@openiothub/proto';
import type { IdentityInfo, IdentitySource } from '../domain/twin-service.js';

const NEVER = '0001-01-01T00:00:00Z';
const iso = (d: Date | undefined) => (d ? d.toISOString() : NEVER);

type Pair = { device: registryV1.Device; module: registryV1.Module | undefined };

/**
 * Identities from the registry's gRPC API. Every twin write needs one: they travel batched
 * (`GetIdentities`, one SQL query per batch); a registry without that call (an older version,
 * mid-upgrade) is asked with GetDevice / GetModule.
 */
export function registryIdentities(url: string): IdentitySource & { close(): void } {
  const client = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, url);
  const lookup = batchedCall<registryV1.IdentityRef, Pair>(
    async (items) => itemsOf((await client.getIdentities({ items })).results, (r) => ({ device: r.device!, module: r.module })),
    async ({ hub, deviceId, moduleId }) => ({
      device: (await client.getDevice({ hub, deviceId })).device!,
      module: moduleId ? (await client.getModule({ hub, deviceId, moduleId })).module! : undefined,
    }),
  );
  return {
    close: () => client.close(),
    async get(hub, deviceId, moduleId): Promise<IdentityInfo> {
      const { device, module } = await lookup({ hub, deviceId, moduleId });
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
