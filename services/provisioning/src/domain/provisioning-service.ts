import { randomBytes } from 'node:crypto';
import { generateSymmetricKey } from '@openiothub/auth';
import { ArgumentInvalidError, DomainError, PreconditionFailedError, UnauthorizedError } from '@openiothub/errors';
import type { InstanceRecord, Kind, PolicyRecord, ProvisioningStore, RegistrationRecord } from '../store/store.js';
import type { LinkedHub } from './allocation.js';
import { attest, type DeviceCredential } from './attestation.js';
import { ALLOCATION_POLICIES, assertGroupId, assertRegistrationId, etagMatches, isObject, normaliseEnrollment, publicView, type JsonObject } from './documents.js';
import type { Operation, Registrar } from './registration.js';

/** The policies a new instance gets (DPS: provisioningserviceowner has every right). */
function defaultPolicies(): PolicyRecord[] {
  return [
    { keyName: 'provisioningserviceowner', primaryKey: generateSymmetricKey(), secondaryKey: generateSymmetricKey(), rights: ['ServiceConfig', 'DeviceConnect', 'EnrollmentWrite', 'EnrollmentRead', 'RegistrationStatusWrite', 'RegistrationStatusRead'] },
    { keyName: 'enrollmentread', primaryKey: generateSymmetricKey(), secondaryKey: generateSymmetricKey(), rights: ['EnrollmentRead', 'RegistrationStatusRead'] },
  ];
}

/** A DPS ID scope: `0ne` and eight upper-case hex digits. */
export function newIdScope(): string {
  return `0ne${randomBytes(4).toString('hex').toUpperCase()}`;
}

const LABEL: Record<Kind, string> = { individual: 'Enrollment', group: 'Enrollment group' };

export interface Page {
  readonly items: JsonObject[];
  readonly continuation: string;
}

/** Instances, enrollments, registration records; registration itself is the Registrar's. */
export class ProvisioningService {
  constructor(
    private readonly store: ProvisioningStore,
    readonly registrar: Registrar,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async ensureInstance(name: string, idScope: string, linked: LinkedHub[], allocationPolicy: string): Promise<InstanceRecord> {
    if (!/^[A-Za-z0-9-]{1,63}$/.test(name)) throw new ArgumentInvalidError(`Provisioning instance name "${name}" is invalid.`);
    if (idScope && !/^0ne[0-9A-Fa-f]{8}$/.test(idScope)) throw new ArgumentInvalidError('An ID scope is 0ne followed by 8 hex digits.');
    if (allocationPolicy && !(ALLOCATION_POLICIES as readonly string[]).includes(allocationPolicy)) throw new ArgumentInvalidError(`allocationPolicy must be one of ${ALLOCATION_POLICIES.join(', ')}.`);
    const inst = await this.store.ensureInstance(name, idScope || newIdScope(), defaultPolicies(), allocationPolicy || undefined);
    if (linked.length > 0) {
      const merged = new Map(inst.linkedHubs.map((h) => [h.hub, h]));
      for (const h of linked) {
        if (!h.hub || !h.hostName) throw new ArgumentInvalidError('A linked hub needs its hub name and host name.');
        merged.set(h.hub, { hub: h.hub, hostName: h.hostName, allocationWeight: h.allocationWeight > 0 ? h.allocationWeight : 1, applyAllocationPolicy: h.applyAllocationPolicy });
      }
      await this.store.setLinkedHubs(name, [...merged.values()]);
    }
    return (await this.store.instance({ name }))!;
  }

  async instance(by: { name?: string; idScope?: string }): Promise<InstanceRecord> {
    const inst = await this.store.instance(by);
    if (!inst) {
      // a device naming an unknown ID scope learns nothing more than "not authorized"
      if (by.idScope) throw new UnauthorizedError('The device is not authorized to register with this provisioning service.');
      throw new DomainError('NotFound', `No provisioning service "${by.name}".`);
    }
    return inst;
  }

  async putEnrollment(instance: string, kind: Kind, id: string, json: string, ifMatch: string | undefined): Promise<JsonObject> {
    if (kind === 'individual') assertRegistrationId(id);
    else assertGroupId(id);
    let body: unknown;
    try {
      body = JSON.parse(json);
    } catch {
      throw new ArgumentInvalidError('The enrollment is not valid JSON.');
    }
    const inst = await this.instance({ name: instance });
    const at = this.now().toISOString();
    const doc = normaliseEnrollment(kind, id, body);
    for (const h of Array.isArray(doc['iotHubs']) ? (doc['iotHubs'] as string[]) : []) {
      if (!inst.linkedHubs.some((l) => l.hostName.toLowerCase() === h.toLowerCase() || l.hub.toLowerCase() === h.toLowerCase())) {
        throw new ArgumentInvalidError(`iotHubs names "${h}", which is not linked to this provisioning service.`);
      }
    }
    const bodyEtag = isObject(body) && typeof body['etag'] === 'string' ? body['etag'] : undefined;
    const stored = await this.store.putDoc(instance, kind, id, (prev) => ({ ...doc, createdDateTimeUtc: (prev?.['createdDateTimeUtc'] as string | undefined) ?? at, lastUpdatedDateTimeUtc: at }), ifMatch ?? bodyEtag);
    return { ...publicView(stored.doc), etag: stored.etag };
  }

  async getEnrollment(instance: string, kind: Kind, id: string): Promise<JsonObject> {
    const stored = await this.store.getDoc(instance, kind, id);
    if (!stored) throw new DomainError('NotFound', `${LABEL[kind]} "${id}" does not exist.`);
    const out: JsonObject = { ...publicView(stored.doc), etag: stored.etag };
    if (kind === 'individual') {
      const reg = await this.store.registration(this.store.pool, instance, id);
      if (reg) out['registrationState'] = reg.doc;
    }
    return out;
  }

  deleteEnrollment(instance: string, kind: Kind, id: string, ifMatch: string | undefined): Promise<void> {
    return this.store.deleteDoc(instance, kind, id, ifMatch);
  }

  async queryEnrollments(instance: string, kind: Kind, pageSize: number, continuation: string): Promise<Page> {
    const limit = Math.min(Math.max(pageSize || 100, 1), 1000);
    const after = decodeContinuation(continuation);
    const docs = await this.store.listDocs(instance, kind, limit + 1, after);
    const page: JsonObject[] = docs.slice(0, limit).map((d) => ({ ...publicView(d.doc), etag: d.etag }));
    const idField = kind === 'individual' ? 'registrationId' : 'enrollmentGroupId';
    return { items: page, continuation: docs.length > limit ? encodeContinuation(String(page[page.length - 1]![idField])) : '' };
  }

  async getRegistration(instance: string, registrationId: string): Promise<JsonObject> {
    const reg = await this.store.registrationOfDevice(instance, registrationId);
    if (!reg) throw new DomainError('NotFound', `No registration "${registrationId}" in this provisioning service.`);
    return this.#withFailover(instance, reg);
  }

  async #withFailover(instance: string, reg: RegistrationRecord): Promise<JsonObject> {
    const f = await this.store.failover(this.store.pool, instance, reg.registrationId);
    return f ? { ...reg.doc, failover: { originalHub: f.originalHub, revertAtUtc: f.revertAt.toISOString() } } : reg.doc;
  }

  async deleteRegistration(instance: string, registrationId: string, ifMatch: string | undefined): Promise<void> {
    const reg = await this.store.registration(this.store.pool, instance, registrationId);
    if (!reg) throw new DomainError('NotFound', `No registration "${registrationId}" in this provisioning service.`);
    if (!etagMatches(ifMatch, String(reg.doc['etag']))) throw new PreconditionFailedError(`Registration "${registrationId}" was changed: its etag does not match If-Match.`);
    await this.store.deleteRegistration(instance, registrationId);
  }

  async queryRegistrations(instance: string, groupId: string, pageSize: number, continuation: string): Promise<Page> {
    const limit = Math.min(Math.max(pageSize || 100, 1), 1000);
    const rows = await this.store.registrationsOfGroup(instance, groupId, limit + 1, decodeContinuation(continuation));
    const page = rows.slice(0, limit);
    return { items: page.map((r) => r.doc), continuation: rows.length > limit ? encodeContinuation(page[page.length - 1]!.registrationId) : '' };
  }

  async authenticateDevice(idScope: string, registrationId: string, credential: DeviceCredential): Promise<{ instance: string; expiresAtMs: number }> {
    const inst = await this.instance({ idScope });
    const { expiresAtMs } = await attest(this.store.enrollmentSource(), inst, registrationId, credential, this.now().getTime());
    return { instance: inst.name, expiresAtMs };
  }

  async register(idScope: string, registrationId: string, credential: DeviceCredential, payloadJson: string): Promise<Operation> {
    assertRegistrationId(registrationId);
    let payload: JsonObject | undefined;
    if (payloadJson) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(payloadJson);
      } catch {
        throw new ArgumentInvalidError('payload is not valid JSON.');
      }
      if (parsed !== null && !isObject(parsed)) throw new ArgumentInvalidError('payload must be a JSON object.');
      payload = parsed ?? undefined;
    }
    return this.registrar.register(await this.instance({ idScope }), registrationId, credential, payload);
  }

  async operation(idScope: string, registrationId: string, operationId: string): Promise<JsonObject> {
    const inst = await this.instance({ idScope });
    const op = await this.store.operation(inst.name, registrationId, operationId);
    if (!op) throw new DomainError('NotFound', `Operation "${operationId}" of registration "${registrationId}" does not exist (operations are kept for a day).`);
    return op;
  }

  async failover(instance: string, id: string, ttlMinutes: number, targetHub: string): Promise<JsonObject> {
    if (!Number.isFinite(ttlMinutes) || ttlMinutes <= 0 || ttlMinutes > 1440) throw new ArgumentInvalidError('ttlMinutes must be a number of minutes above 0 and at most 1440.');
    const inst = await this.instance({ name: instance });
    const reg = await this.store.registrationOfDevice(instance, id);
    if (!reg) throw new DomainError('NotFound', `No registration for device "${id}" in this provisioning service.`);
    return this.registrar.failover(inst, reg.registrationId, ttlMinutes, targetHub);
  }

  async failback(instance: string, id: string): Promise<JsonObject> {
    const inst = await this.instance({ name: instance });
    const reg = await this.store.registrationOfDevice(instance, id);
    if (!reg) throw new DomainError('NotFound', `No registration for device "${id}" in this provisioning service.`);
    return this.registrar.failback(inst, reg.registrationId);
  }

  /** Revert failovers whose time is up; returns how many went back. */
  async revertDueFailovers(limit = 100): Promise<number> {
    let n = 0;
    for (const due of await this.store.dueFailovers(limit)) {
      try {
        await this.registrar.failback(await this.instance({ name: due.instance }), due.registrationId);
        n += 1;
      } catch (err) {
        // another process reverted it first: nothing to do
        if (!(err instanceof DomainError && err.code === 'InvalidOperation')) throw err;
      }
    }
    return n;
  }
}

function encodeContinuation(after: string): string {
  return Buffer.from(after, 'utf8').toString('base64url');
}

function decodeContinuation(token: string): string {
  if (!token) return '';
  const s = Buffer.from(token, 'base64url').toString('utf8');
  if (!s) throw new ArgumentInvalidError('The continuation token is not valid.');
  return s;
}
