import { promiseClient, registryV1, grpc } from '@openiothub/proto';

/**
 * Hub administration that IoT Hub does through Azure Resource Manager (policies and their keys):
 * here through the registry's gRPC API, which only operators can reach.
 */
export function registryAdmin(address: string | undefined) {
  if (!address) throw new Error('Policy commands need the registry gRPC address: --registry host:port, REGISTRY_GRPC_URL, or a running local hub.');
  const raw = new registryV1.RegistryServiceClient(address, grpc.credentials.createInsecure());
  return Object.assign(promiseClient(raw, registryV1.RegistryServiceService), { close: () => raw.close() });
}
