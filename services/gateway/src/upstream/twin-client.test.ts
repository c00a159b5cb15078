import { afterEach, describe, expect, it } from 'vitest';
import { servePartial, twinV1, unaryHandler } from '@openiothub/proto';
import { DomainError } from '@openiothub/errors';
import { createTwinClient } from './twin-client.js';

const device = (deviceId: string) => ({ key: { hub: 'h', deviceId, moduleId: '' }, generationId: 'g', modelId: '' });
const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

describe('twin client: reported patches', () => {
  it('go in batches, each answered alone: a failed item rejects only its caller', async () => {
    const batches: number[] = [];
    const srv = await servePartial<twinV1.TwinServiceServer>(twinV1.TwinServiceService, {
      patchReportedBatch: unaryHandler(async (req: twinV1.PatchReportedBatchRequest) => {
        batches.push(req.items.length);
        return { results: req.items.map((i, n) => (i.patchJson === 'bad' ? { reportedVersion: 0, error: { code: 'ArgumentInvalid', message: 'bad patch' } } : { reportedVersion: n + 2 })) };
      }),
    });
    stops.push(srv.stop);
    const twin = createTwinClient(srv.url);
    stops.push(() => twin.close());
    const calls = ['{"a":1}', 'bad', '{"b":1}', '{"c":1}', '{"d":1}', '{"e":1}'].map((patchJson, i) => twin.patchReported({ device: device(`d${i}`), patchJson }));
    const settled = await Promise.allSettled(calls);
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'ArgumentInvalid' } });
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(5);
    // all six in one call: they were made in the same tick
    expect(batches).toEqual([6]);
  });

  it('fall back to one call per patch against a twin service that has no batch call (a rolling upgrade)', async () => {
    let unary = 0;
    const srv = await servePartial<twinV1.TwinServiceServer>(twinV1.TwinServiceService, {
      patchReported: unaryHandler(async (req: twinV1.PatchReportedRequest) => {
        unary++;
        if (req.patchJson === 'bad') throw new DomainError('ArgumentInvalid', 'bad patch');
        return { reportedVersion: 7 };
      }),
    });
    stops.push(srv.stop);
    const twin = createTwinClient(srv.url);
    stops.push(() => twin.close());
    const settled = await Promise.allSettled(['{"a":1}', 'bad', '{"b":1}'].map((patchJson, i) => twin.patchReported({ device: device(`u${i}`), patchJson })));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(settled[0]).toMatchObject({ value: { reportedVersion: 7 } });
    expect(unary).toBe(3);
    // and later patches go straight to the unary call
    await expect(twin.patchReported({ device: device('u9'), patchJson: '{}' })).resolves.toMatchObject({ reportedVersion: 7 });
    expect(unary).toBe(4);
  });
});

describe('twin client: service twin patches', () => {
  it('go in batches, each answered with its own twin or error', async () => {
    const batches: number[] = [];
    const srv = await servePartial<twinV1.TwinServiceServer>(twinV1.TwinServiceService, {
      updateTwinBatch: unaryHandler(async (req: twinV1.UpdateTwinBatchRequest) => {
        batches.push(req.items.length);
        return { results: req.items.map((i) => (i.ifMatch === '"stale"' ? { twinJson: '', etag: '', error: { code: 'PreconditionFailed', message: 'etag' } } : { twinJson: `{"deviceId":"${i.key!.deviceId}"}`, etag: 'e1' })) };
      }),
    });
    stops.push(srv.stop);
    const twin = createTwinClient(srv.url);
    stops.push(() => twin.close());
    const key = (deviceId: string) => ({ hub: 'h', deviceId, moduleId: '' });
    const settled = await Promise.allSettled([twin.updateTwin({ key: key('a'), patchJson: '{}' }), twin.updateTwin({ key: key('b'), patchJson: '{}', ifMatch: '"stale"' }), twin.updateTwin({ key: key('c'), patchJson: '{}' })]);
    expect(batches).toEqual([3]);
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { twinJson: '{"deviceId":"a"}', etag: 'e1' } });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'PreconditionFailed' } });
    expect(settled[2]).toMatchObject({ status: 'fulfilled', value: { twinJson: '{"deviceId":"c"}' } });
  });
});

