import { describe, expect, it } from 'vitest';
import { DomainError } from '@openiothub/errors';
import { connectClient, fromGrpcError, promiseClient, serveGrpc, SERVICE_CONFIG, servePartial, toGrpcError, unaryHandler, grpc } from './grpc.js';
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
        return { hub: { name: req.hub, createdTime: new Date(0), partitionCount: 4, retentionDays: 1, skuName: 'unlimited', skuUnits: 1 } };
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

  it('logs an unexpected failure with its cause, and answers ServerError without its details', async () => {
    const logged: Array<{ obj: object; msg: string }> = [];
    const stops: Array<() => Promise<void> | void> = [];
    const impl = {
      getHub: unaryHandler(async (req: registryV1.GetHubRequest) => {
        if (req.hub === 'bug') throw new TypeError('undefined is not a function');
        throw new DomainError('IotHubNotFound', 'no hub');
      }),
    } as unknown as grpc.UntypedServiceImplementation;
    const port = await serveGrpc({
      host: '127.0.0.1',
      port: 0,
      services: [[registryV1.RegistryServiceService, impl]],
      lifecycle: { onStop: (_n, fn) => void stops.push(fn) },
      log: { error: (obj, msg) => void logged.push({ obj, msg }) },
    });
    const raw = new registryV1.RegistryServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const client = promiseClient(raw, registryV1.RegistryServiceService);
    try {
      await expect(client.getHub({ hub: 'bug' })).rejects.toMatchObject({ code: 'ServerError', message: 'An internal error occurred.' });
      await expect(client.getHub({ hub: 'other' })).rejects.toMatchObject({ code: 'IotHubNotFound' });
      expect(logged).toHaveLength(1);
      expect(logged[0]!.obj).toMatchObject({ method: 'getHub', err: expect.objectContaining({ message: 'undefined is not a function' }) as unknown });
    } finally {
      raw.close();
      for (const s of stops) await s();
    }
  });

  it('makes a registry read that failed UNAVAILABLE again, and never a write', async () => {
    const calls: string[] = [];
    const unavailable = () => Object.assign(new Error('connection reset'), { code: grpc.status.UNAVAILABLE, details: 'connection reset' });
    const srv = await servePartial<registryV1.RegistryServiceServer>(registryV1.RegistryServiceService, {
      lookupCredentials: (call, callback) => {
        calls.push('lookup');
        // the first attempt lands on a process going away
        if (calls.length === 1) return callback(unavailable());
        callback(null, registryV1.LookupCredentialsResponse.fromPartial({ found: call.request.deviceId === 'd', status: 'enabled', generationId: 'g1' }));
      },
      putDevice: (_call, callback) => {
        calls.push('put');
        callback(unavailable());
      },
    });
    const client = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, srv.url);
    try {
      await expect(client.lookupCredentials({ hub: 'h', deviceId: 'd', moduleId: '' })).resolves.toMatchObject({ found: true, generationId: 'g1' });
      expect(calls).toEqual(['lookup', 'lookup']);
      await expect(client.putDevice({ hub: 'h', device: registryV1.Device.fromPartial({ deviceId: 'd' }) })).rejects.toMatchObject({ code: 'ServiceUnavailable' });
      expect(calls).toEqual(['lookup', 'lookup', 'put']);
    } finally {
      client.close();
      srv.stop();
    }
  });

  it('names only methods the services have in its retry policy', () => {
    const paths = new Set(Object.values(registryV1.RegistryServiceService).map((m) => m.path));
    const named = SERVICE_CONFIG.methodConfig.flatMap((c) => c.name).map((n) => `/${n.service}/${n.method}`);
    expect(named.length).toBeGreaterThan(10);
    for (const p of named) expect(paths).toContain(p);
  });
});
