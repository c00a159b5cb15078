import { afterEach, describe, expect, it } from 'vitest';
import { servePartial, registryV1, unaryHandler } from '@openiothub/proto';
import { DeviceNotFoundError, DomainError } from '@openiothub/errors';
import { registryIdentities } from './registry-identities.js';


const device = (deviceId: string) => registryV1.Device.fromPartial({ deviceId, generationId: `gen-${deviceId}`, status: 'enabled', connectionState: 'Disconnected' });
const module = (deviceId: string, moduleId: string) => registryV1.Module.fromPartial({ deviceId, moduleId, generationId: `gen-${deviceId}-${moduleId}`, connectionState: 'Connected' });
const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

describe('twin identities from the registry', () => {
  it('asks for the identities of writes made together in one GetIdentities call; a missing one fails only its own write', async () => {
    const batches: number[] = [];
    const srv = await servePartial<registryV1.RegistryServiceServer>(registryV1.RegistryServiceService, {
      getIdentities: unaryHandler(async (req: registryV1.GetIdentitiesRequest) => {
        batches.push(req.items.length);
        return {
          results: req.items.map((i) =>
            i.deviceId === 'gone' ? { error: { code: 'DeviceNotFound', message: 'Device gone not found.' } } : { device: device(i.deviceId), ...(i.moduleId ? { module: module(i.deviceId, i.moduleId) } : {}) },
          ),
        };
      }),
    });
    stops.push(srv.stop);
    const ids = registryIdentities(srv.url);
    stops.push(() => ids.close());
    const settled = await Promise.allSettled([ids.get('h', 'd1', ''), ids.get('h', 'gone', ''), ids.get('h', 'd2', 'm')]);
    expect(batches).toEqual([3]);
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { deviceId: 'd1', moduleId: '', generationId: 'gen-d1', connectionState: 'Disconnected' } });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'DeviceNotFound' } });
    // a module's twin carries the module's generation and connection state, the device's status
    expect(settled[2]).toMatchObject({ status: 'fulfilled', value: { deviceId: 'd2', moduleId: 'm', generationId: 'gen-d2-m', connectionState: 'Connected', status: 'enabled' } });
  });

  it('falls back to GetDevice / GetModule against a registry without GetIdentities (a rolling upgrade)', async () => {
    const calls: string[] = [];
    const srv = await servePartial<registryV1.RegistryServiceServer>(registryV1.RegistryServiceService, {
      getDevice: unaryHandler(async (req: registryV1.GetDeviceRequest) => {
        calls.push(`device ${req.deviceId}`);
        if (req.deviceId === 'gone') throw new DeviceNotFoundError('gone');
        return { device: device(req.deviceId) };
      }),
      getModule: unaryHandler(async (req: registryV1.GetModuleRequest) => {
        calls.push(`module ${req.moduleId}`);
        if (req.moduleId === 'nomodule') throw new DomainError('ModuleNotFound', 'no module');
        return { module: module(req.deviceId, req.moduleId) };
      }),
    });
    stops.push(srv.stop);
    const ids = registryIdentities(srv.url);
    stops.push(() => ids.close());
    const settled = await Promise.allSettled([ids.get('h', 'd1', 'm'), ids.get('h', 'gone', ''), ids.get('h', 'd1', 'nomodule')]);
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { moduleId: 'm', generationId: 'gen-d1-m' } });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'DeviceNotFound' } });
    expect(settled[2]).toMatchObject({ status: 'rejected', reason: { code: 'ModuleNotFound' } });
    expect(calls.sort()).toEqual(['device d1', 'device d1', 'device gone', 'module m', 'module nomodule']);
  });
});
