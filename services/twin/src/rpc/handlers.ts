import { answerEach, type twinV1, unaryHandler } from '@openiothub/proto';
import { ArgumentInvalidError } from '@openiothub/errors';
import type { TwinKey, TwinService } from '../domain/twin-service.js';
import type { TwinQueryEngine } from '../query/engine.js';
import type { ConfigurationService } from '../configurations/service.js';

function keyOf(k: twinV1.TwinKey | undefined): TwinKey {
  if (!k?.hub || !k.deviceId) throw new ArgumentInvalidError('hub and deviceId are required.');
  return { hub: k.hub, deviceId: k.deviceId, moduleId: k.moduleId };
}

function deviceOf(d: twinV1.DeviceContext | undefined) {
  if (!d?.generationId) throw new ArgumentInvalidError('generationId is required.');
  return { ...keyOf(d.key), generationId: d.generationId, modelId: d.modelId };
}

/** The gRPC TwinService implementation: translate, call the domain, translate back. */
export function twinHandlers(svc: TwinService, queries: TwinQueryEngine, configurations: ConfigurationService, log?: { error(obj: object, msg: string): void }): twinV1.TwinServiceServer {
  const hubOf = (hub: string) => {
    if (!hub) throw new ArgumentInvalidError('hub is required.');
    return hub;
  };
  return {
    getTwin: unaryHandler(async (req) => {
      const r = await svc.getTwin(keyOf(req.key));
      return { twinJson: JSON.stringify(r.twin), etag: r.etag };
    }),
    updateTwin: unaryHandler(async (req) => {
      const r = await svc.updateTwin(keyOf(req.key), req.patchJson, req.ifMatch);
      return { twinJson: JSON.stringify(r.twin), etag: r.etag };
    }),
    replaceTwin: unaryHandler(async (req) => {
      const r = await svc.replaceTwin(keyOf(req.key), req.twinJson, req.ifMatch);
      return { twinJson: JSON.stringify(r.twin), etag: r.etag };
    }),
    importTwin: unaryHandler(async (req) => {
      const r = await svc.importTwin(keyOf(req.key), req.twinJson, req.ifMatch);
      return { twinJson: JSON.stringify(r.twin), etag: r.etag };
    }),
    getDeviceTwin: unaryHandler(async (req) => ({ twinJson: JSON.stringify(await svc.getDeviceTwin(deviceOf(req.device))) })),
    patchReported: unaryHandler(async (req) => ({ reportedVersion: await svc.patchReported(deviceOf(req.device), req.patchJson) })),
    patchReportedBatch: unaryHandler(async (req) => ({
      results: await answerEach(req.items, async (item) => ({ reportedVersion: await svc.patchReported(deviceOf(item.device), item.patchJson) }), (error) => ({ reportedVersion: 0, error }), log),
    })),
    updateTwinBatch: unaryHandler(async (req) => ({
      results: await answerEach(
        req.items,
        async (item) => {
          const r = await svc.updateTwin(keyOf(item.key), item.patchJson, item.ifMatch);
          return { twinJson: JSON.stringify(r.twin), etag: r.etag };
        },
        (error) => ({ twinJson: '', etag: '', error }),
        log,
      ),
    })),
    query: unaryHandler(async (req) => {
      const page = await queries.query(hubOf(req.hub), req.query, req.pageSize, req.continuation);
      return { itemsJson: JSON.stringify(page.items), continuation: page.continuation, itemType: page.itemType };
    }),
    putConfiguration: unaryHandler(async (req) => ({ configurationJson: JSON.stringify(await configurations.put(hubOf(req.hub), req.id, req.configurationJson, req.ifMatch)) })),
    getConfiguration: unaryHandler(async (req) => ({ configurationJson: JSON.stringify(await configurations.get(hubOf(req.hub), req.id)) })),
    listConfigurations: unaryHandler(async (req) => ({ itemsJson: JSON.stringify(await configurations.list(hubOf(req.hub), req.top)) })),
    deleteConfiguration: unaryHandler(async (req) => {
      await configurations.delete(hubOf(req.hub), req.id, req.ifMatch);
      return {};
    }),
    applyConfigurationContent: unaryHandler(async (req) => {
      await configurations.applyContent(hubOf(req.hub), req.deviceId, req.contentJson);
      return {};
    }),
  };
}
