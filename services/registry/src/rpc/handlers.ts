import { type registryV1, unaryHandler } from '@openiothub/proto';
import type { CaCertificates } from '../domain/ca-certificates.js';
import type { HubSettings } from '../domain/hub-settings.js';
import type { RegistryService } from '../domain/registry-service.js';
import type { HubRow } from '../store/registry-store.js';
import { deviceFromProto, deviceToProto, moduleFromProto, moduleToProto, policyToProto, withoutKeys } from './mapping.js';

const hubJson = (h: HubRow): registryV1.Hub => ({ name: h.name, createdTime: h.createdAt, partitionCount: h.partitionCount, retentionDays: h.retentionDays, skuName: h.skuName, skuUnits: h.skuUnits });

/** The gRPC RegistryService implementation: translate, call the domain, translate back. */
export function registryHandlers(svc: RegistryService, certificates: CaCertificates, settings: HubSettings): registryV1.RegistryServiceServer {
  const doc = (o: unknown) => ({ json: JSON.stringify(o) });
  const filter = (f: { rules: unknown; etag: string }) => ({ rulesJson: JSON.stringify(f.rules), etag: f.etag });
  return {
    getIpFilter: unaryHandler(async (req) => filter(await settings.get(req.hub))),
    putIpFilter: unaryHandler(async (req) => filter(await settings.put(req.hub, req.rulesJson, req.ifMatch))),
    putSku: unaryHandler(async (req) => {
      await settings.putSku(req.hub, req.skuName, req.skuUnits);
      return { hub: hubJson(await svc.getHub(req.hub)) };
    }),
    putCertificate: unaryHandler(async (req) => doc(await certificates.put(req.hub, req.name, req.certificate, req.ifMatch, req.isVerified))),
    getCertificate: unaryHandler(async (req) => doc(await certificates.get(req.hub, req.name))),
    listCertificates: unaryHandler(async (req) => doc({ value: await certificates.list(req.hub) })),
    deleteCertificate: unaryHandler(async (req) => (await certificates.delete(req.hub, req.name, req.ifMatch), {})),
    generateVerificationCode: unaryHandler(async (req) => doc(await certificates.generateVerificationCode(req.hub, req.name, req.ifMatch))),
    verifyCertificate: unaryHandler(async (req) => doc(await certificates.verify(req.hub, req.name, req.certificate, req.ifMatch))),
    verifiedCertificates: unaryHandler(async (req) => ({ pems: await certificates.verifiedPems(req.hub) })),
    ensureHub: unaryHandler(async (req) => {
      const { hub, created } = await svc.ensureHub(req.hub, {
        ...(req.partitionCount === undefined ? {} : { partitionCount: req.partitionCount }),
        ...(req.retentionDays === undefined ? {} : { retentionDays: req.retentionDays }),
      });
      return { hub: hubJson(hub), created };
    }),
    getHub: unaryHandler(async (req) => {
      const hub = await svc.getHub(req.hub);
      return { hub: hubJson(hub) };
    }),
    listPolicies: unaryHandler(async (req) => ({ policies: (await svc.listPolicies(req.hub)).map(policyToProto) })),
    getPolicy: unaryHandler(async (req) => ({ policy: policyToProto(await svc.getPolicy(req.hub, req.keyName)) })),
    regeneratePolicyKey: unaryHandler(async (req) => ({
      policy: policyToProto(await svc.regeneratePolicyKey(req.hub, req.keyName, req.which)),
    })),
    putDevice: unaryHandler(async (req) => {
      const { device, created } = await svc.putDevice(req.hub, deviceFromProto(req.device), req.ifMatch);
      return { device: deviceToProto(device), created };
    }),
    getDevice: unaryHandler(async (req) => ({ device: deviceToProto(await svc.getDevice(req.hub, req.deviceId)) })),
    getIdentities: unaryHandler(async (req) => ({
      results: (await svc.getIdentities(req.items)).map((r) =>
        r instanceof Error ? { error: { code: r.code, message: r.message } } : { device: withoutKeys(deviceToProto(r.device)), ...(r.module ? { module: withoutKeys(moduleToProto(r.module)) } : {}) },
      ),
    })),
    deleteDevice: unaryHandler(async (req) => {
      await svc.deleteDevice(req.hub, req.deviceId, req.ifMatch);
      return {};
    }),
    listDevices: unaryHandler(async (req) => ({ devices: (await svc.listDevices(req.hub, req.top, req.afterDeviceId)).map(deviceToProto) })),
    bulkDevices: unaryHandler(async (req) =>
      svc.bulk(
        req.hub,
        req.operations.map((op) => ({ device: deviceFromProto(op.device), importMode: op.importMode, etag: op.etag })),
      ),
    ),
    getStatistics: unaryHandler(async (req) => {
      const s = await svc.statistics(req.hub);
      return { totalDeviceCount: s.total, enabledDeviceCount: s.enabled, disabledDeviceCount: s.disabled };
    }),
    putModule: unaryHandler(async (req) => {
      const { module, created } = await svc.putModule(req.hub, moduleFromProto(req.module), req.ifMatch);
      return { module: moduleToProto(module), created };
    }),
    getModule: unaryHandler(async (req) => ({ module: moduleToProto(await svc.getModule(req.hub, req.deviceId, req.moduleId)) })),
    deleteModule: unaryHandler(async (req) => {
      await svc.deleteModule(req.hub, req.deviceId, req.moduleId, req.ifMatch);
      return {};
    }),
    listModules: unaryHandler(async (req) => ({ modules: (await svc.listModules(req.hub, req.deviceId)).map(moduleToProto) })),
    lookupCredentials: unaryHandler(async (req) => {
      const c = await svc.lookupCredentials(req.hub, req.deviceId, req.moduleId);
      if (!c) return { found: false, status: '', generationId: '', authentication: undefined };
      const a = c.authentication;
      return {
        found: true,
        status: c.status,
        generationId: c.generationId,
        authentication: {
          type: a.type,
          symmetricKey: { primaryKey: a.primaryKey, secondaryKey: a.secondaryKey },
          x509Thumbprint: { primaryThumbprint: a.primaryThumbprint, secondaryThumbprint: a.secondaryThumbprint },
        },
      };
    }),
    reportConnection: unaryHandler(async (req) => ({
      applied: await svc.reportConnection(req.hub, {
        deviceId: req.deviceId,
        moduleId: req.moduleId,
        connected: req.connected,
        connectionId: req.connectionId,
        at: req.at ?? new Date(),
      }),
    })),
    recordActivity: unaryHandler(async (req) => {
      await svc.recordActivity(
        req.hub,
        req.entries.map((e) => ({ deviceId: e.deviceId, moduleId: e.moduleId, at: e.at ?? new Date() })),
      );
      return {};
    }),
  };
}
