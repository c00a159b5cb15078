import { describe, expect, it } from 'vitest';
import { DomainError } from '@openiothub/errors';
import { fromGrpcError, promiseClient, toGrpcError, unaryHandler, grpc } from './grpc.js';
import { registryV1 } from './index.js';

describe('gRPC error mapping', () => {
  it('round-trips a DomainError code through status + metadata', () => {
    const wire = toGrpcError(new DomainError('PreconditionFailed', 'etag mismatch'));
    expect(wire.code).toBe(grpc.status.FAILED_PRECONDITION);
    const back = fromGrpcError(wire);
    expect(back.code).toBe('PreconditionFailed');
    expect(back.message).toBe('etag mismatch');
  });

  it('hides unknown errors as ServerError and maps transport failures to ServiceUnavailable', () => {
    const wire = toGrpcError(new Error('secret internals'));
    expect(wire.code).toBe(grpc.status.INTERNAL);
    expect(wire.details).not.toContain('secret');
    expect(fromGrpcError({ code: grpc.status.UNAVAILABLE, message: 'x' }).code).toBe('ServiceUnavailable');
  });

  it('carries errors over a real grpc-js server and client', async () => {
    const server = new grpc.Server();
    const impl = {
      getHub: unaryHandler(async (req: registryV1.GetHubRequest) => {
        if (req.hub === 'missing') throw new DomainError('IotHubNotFound', 'no hub');
        return { hub: { name: req.hub, createdTime: new Date(0) } };
      }),
    } as unknown as registryV1.RegistryServiceServer;
    server.addService(registryV1.RegistryServiceService, impl);
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    const raw = new registryV1.RegistryServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const client = promiseClient(raw, registryV1.RegistryServiceService);
    try {
      const ok = await client.getHub({ hub: 'h1' });
      expect(ok.hub?.name).toBe('h1');
      expect(ok.hub?.createdTime).toEqual(new Date(0));
      await expect(client.getHub({ hub: 'missing' })).rejects.toMatchObject({ code: 'IotHubNotFound', message: 'no hub' });
    } finally {
      raw.close();
      server.forceShutdown();
    }
  });
});
