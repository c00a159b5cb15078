import type { X509Certificate } from 'node:crypto';
import { parseCertificate } from '@openiothub/auth';
import { ArgumentInvalidError } from '@openiothub/errors';
import type { DeviceCredential } from '../domain/attestation.js';
import { type provisioningV1, unaryHandler } from '@openiothub/proto';
import type { InstanceRecord } from '../store/store.js';
import type { ProvisioningService } from '../domain/provisioning-service.js';

function required(v: string, name: string): string {
  if (!v) throw new ArgumentInvalidError(`${name} is required.`);
  return v;
}

function instanceOut(i: InstanceRecord): provisioningV1.InstanceResponse {
  return {
    instance: {
      name: i.name,
      idScope: i.idScope,
      allocationPolicy: i.allocationPolicy,
      linkedHubs: i.linkedHubs.map((h) => ({ hub: h.hub, hostName: h.hostName, allocationWeight: h.allocationWeight, applyAllocationPolicy: h.applyAllocationPolicy })),
      policies: i.policies.map((p) => ({ keyName: p.keyName, primaryKey: p.primaryKey, secondaryKey: p.secondaryKey, rights: p.rights })),
    },
  };
}

/** A SAS token, or (when there is none) the client certificate chain the gateway passed on. */
function credentialOf(req: { sasToken: string; clientCertChain: string[] }): DeviceCredential {
  if (req.sasToken || req.clientCertChain.length === 0) return { sasToken: req.sasToken };
  return { chain: req.clientCertChain.map((pem) => parseCertificate(pem)).filter((c): c is X509Certificate => c !== undefined) };
}

/** The gRPC ProvisioningService: translate, call the domain, translate back. */
export function provisioningHandlers(svc: ProvisioningService, retryAfterSeconds: number): provisioningV1.ProvisioningServiceServer {
  const doc = (o: unknown) => ({ json: JSON.stringify(o) });
  return {
    ensureInstance: unaryHandler(async (req) => instanceOut(await svc.ensureInstance(required(req.name, 'name'), req.idScope, req.linkedHubs, req.allocationPolicy))),
    getInstance: unaryHandler(async (req) => instanceOut(await svc.instance(req.name ? { name: req.name } : { idScope: required(req.idScope, 'name or idScope') }))),
    putEnrollment: unaryHandler(async (req) => doc(await svc.putEnrollment(required(req.instance, 'instance'), 'individual', required(req.id, 'id'), req.json, req.ifMatch))),
    getEnrollment: unaryHandler(async (req) => doc(await svc.getEnrollment(required(req.instance, 'instance'), 'individual', required(req.id, 'id')))),
    deleteEnrollment: unaryHandler(async (req) => (await svc.deleteEnrollment(required(req.instance, 'instance'), 'individual', required(req.id, 'id'), req.ifMatch), {})),
    queryEnrollments: unaryHandler(async (req) => {
      const page = await svc.queryEnrollments(required(req.instance, 'instance'), 'individual', req.pageSize, req.continuation);
      return { json: JSON.stringify(page.items), continuation: page.continuation };
    }),
    putEnrollmentGroup: unaryHandler(async (req) => doc(await svc.putEnrollment(required(req.instance, 'instance'), 'group', required(req.id, 'id'), req.json, req.ifMatch))),
    getEnrollmentGroup: unaryHandler(async (req) => doc(await svc.getEnrollment(required(req.instance, 'instance'), 'group', required(req.id, 'id')))),
    deleteEnrollmentGroup: unaryHandler(async (req) => (await svc.deleteEnrollment(required(req.instance, 'instance'), 'group', required(req.id, 'id'), req.ifMatch), {})),
    queryEnrollmentGroups: unaryHandler(async (req) => {
      const page = await svc.queryEnrollments(required(req.instance, 'instance'), 'group', req.pageSize, req.continuation);
      return { json: JSON.stringify(page.items), continuation: page.continuation };
    }),
    getRegistration: unaryHandler(async (req) => doc(await svc.getRegistration(required(req.instance, 'instance'), required(req.id, 'id')))),
    deleteRegistration: unaryHandler(async (req) => (await svc.deleteRegistration(required(req.instance, 'instance'), required(req.id, 'id'), req.ifMatch), {})),
    queryRegistrations: unaryHandler(async (req) => {
      const page = await svc.queryRegistrations(required(req.instance, 'instance'), required(req.id, 'id'), req.pageSize, req.continuation);
      return { json: JSON.stringify(page.items), continuation: page.continuation };
    }),
    authenticateDevice: unaryHandler(async (req) => {
      const r = await svc.authenticateDevice(required(req.idScope, 'idScope'), required(req.registrationId, 'registrationId'), credentialOf(req));
      return { instance: r.instance, expiresAtMs: r.expiresAtMs };
    }),
    register: unaryHandler(async (req) => {
      const op = await svc.register(required(req.idScope, 'idScope'), required(req.registrationId, 'registrationId'), credentialOf(req), req.payloadJson);
      return { json: JSON.stringify(op), retryAfterSeconds };
    }),
    getOperation: unaryHandler(async (req) => ({
      json: JSON.stringify(await svc.operation(required(req.idScope, 'idScope'), required(req.registrationId, 'registrationId'), required(req.operationId, 'operationId'))),
      retryAfterSeconds,
    })),
    failover: unaryHandler(async (req) => doc(await svc.failover(required(req.instance, 'instance'), required(req.registrationId, 'registrationId'), req.ttlMinutes, req.targetHub))),
    failback: unaryHandler(async (req) => doc(await svc.failback(required(req.instance, 'instance'), required(req.registrationId, 'registrationId')))),
  };
}
