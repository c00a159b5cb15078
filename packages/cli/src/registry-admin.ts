import { connectClient, registryV1 } from '@openiothub/proto';

/**
 * Hub administration that IoT Hub does through Azure Resource Manager (policies and their keys):
 * here through the registry's gRPC API, which only operators can reach.
 */
export function registryAdmin(address: string | undefined) {
  if (!address) throw new Error('Policy commands need the registry gRPC address: --registry host:port, REGISTRY_GRPC_URL, or a running local hub.');
  return connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, address);
}
