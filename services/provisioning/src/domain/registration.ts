import { randomUUID } from 'node:crypto';
import { DomainError } from '@openiothub/errors';
import type { PoolClient } from '@openiothub/postgres';
import type { InstanceRecord, ProvisioningStore, RegistrationRecord } from '../store/store.js';
import { askWebhook, candidateHubs, effectivePolicy, hashedChoice, lowestLoadChoice, type LinkedHub } from './allocation.js';
import type { X509Certificate } from 'node:crypto';
import { parseCertificate, thumbprints } from '@openiothub/auth';
import { attest, deviceKeys, type DeviceCredential } from './attestation.js';
import { attestationCertificates, etagOf, isObject, type Enrollment, type JsonObject } from './documents.js';
import { identityAuthOf, type DeviceCredentials, type HubIdentities, type IdentityAuth, type TwinData } from './hub-identities.js';

/** DPS registration sub-states (DeviceRegistrationState.substatus). */
type Substatus = 'initialAssignment' | 'deviceDataMigrated' | 'deviceDataReset' | 'reprovisionedToInitialAssignment';

export interface RegistrationOptions {
  readonly webhookTimeoutMs: number;
  readonly now?: () => Date;
}

/** A registration's outcome: the body the device polls for. */
export interface Operation {
  readonly operationId: string;
  readonly status: string;
  readonly registrationState: JsonObject;
}

function twinOf(initialTwin: JsonObject | undefined): TwinData {
  const props = initialTwin && isObject(initialTwin['properties']) ? initialTwin['properties'] : {};
  return {
    tags: initialTwin && isObject(initialTwin['tags']) ? initialTwin['tags'] : undefined,
    desired: isObject(props['desired']) ? props['desired'] : undefined,
    reported: undefined,
  };
}

/**
 * Device registration: attestation, allocation, the identity in the chosen hub (created, updated or
 * moved with its twin), the registration record and the operation the device polls — in one
 * transaction per registration id, so concurrent registers of one device run one after the other
 * and a stored answer always matches the hub state.
 */
export class Registrar {
  readonly #now: () => Date;

  constructor(
    private readonly store: ProvisioningStore,
    private readonly identities: HubIdentities,
    private readonly opts: RegistrationOptions,
  ) {
    this.#now = opts.now ?? (() => new Date());
  }

  async register(instance: InstanceRecord, registrationId: string, credential: DeviceCredential, payload: JsonObject | undefined): Promise<Operation> {
    const { enrollment, leaf } = await attest(this.store.enrollmentSource(), instance, registrationId, credential, this.#now().getTime());
    return this.store.withRegistrationLock(instance.name, registrationId, async (client) => {
      const prev = await this.store.registration(client, instance.name, registrationId);
      const now = this.#now().toISOString();
      const base: JsonObject = {
        registrationId,
        createdDateTimeUtc: (prev?.doc['createdDateTimeUtc'] as string | undefined) ?? now,
        lastUpdatedDateTimeUtc: now,
        ...(enrollment.kind === 'group' ? { symmetricKey: { enrollmentGroupId: enrollment.id } } : {}),
      };
      let state: JsonObject;
      let hub = prev?.hub ?? '';
      let deviceId = prev?.deviceId ?? '';
      if (!enrollment.enabled) {
        state = { ...base, status: 'disabled', errorCode: 401008, errorMessage: `The ${enrollment.kind === 'group' ? 'enrollment group' : 'enrollment'} is disabled.` };
      } else {
        try {
          const a = await this.#assign(client, instance, enrollment, registrationId, payload, prev, identityAuth(enrollment, registrationId, leaf));
          hub = a.hub.hub;
          deviceId = a.deviceId;
          state = { ...base, assignedHub: a.hub.hostName, deviceId: a.deviceId, status: 'assigned', substatus: a.substatus, ...(a.payload ? { payload: a.payload } : {}) };
        } catch (err) {
          if (!(err instanceof DomainError)) throw err;
          state = { ...base, status: 'failed', errorCode: err.spec.numeric, errorMessage: err.message };
        }
      }
      state['etag'] = etagOf('registration', registrationId, (prev?.version ?? 0) + 1);
      await this.store.saveRegistration(client, instance.name, { registrationId, enrollmentKind: enrollment.kind, enrollmentId: enrollment.id, hub, deviceId, doc: state });
      const operation: Operation = { operationId: `4.${randomUUID().replace(/-/g, '').slice(0, 16)}.${randomUUID()}`, status: state['status'] as string, registrationState: state };
      await this.store.saveOperation(client, operation.operationId, instance.name, registrationId, operation as unknown as JsonObject);
      return operation;
    });
  }

  async #assign(client: PoolClient, instance: InstanceRecord, enrollment: Enrollment, registrationId: string, payload: JsonObject | undefined, prev: RegistrationRecord | undefined, auth: IdentityAuth) {
    const deviceId = enrollment.deviceId ?? registrationId;
    const cred: DeviceCredentials = { deviceId, auth, iotEdge: enrollment.iotEdge };
    const linked = instance.linkedHubs;
    const prevHub = prev?.hub ? linked.find((h) => h.hub === prev.hub) : undefined;
    const failover = await this.store.failover(client, instance.name, registrationId);
    let target: LinkedHub;
    let initialTwin = enrollment.initialTwin;
    let returned: JsonObject | undefined;
    if (prevHub && (failover?.failoverHub === prevHub.hub || !enrollment.updateHubAssignment)) {
      // a failover in force, or "never move": the device stays where it is
      target = prevHub;
    } else {
      const candidates = candidateHubs(linked, enrollment);
      const policy = effectivePolicy(enrollment, instance.allocationPolicy);
      if (candidates.length === 0) throw new DomainError('InvalidOperation', 'No linked IoT hub is available for this enrollment.');
      if (policy === 'static') target = candidates[0]!;
      else if (policy === 'geoLatency' || policy === 'lowestLoad') target = lowestLoadChoice(candidates, await this.store.hubLoad(instance.name));
      else if (policy === 'custom') {
        if (!enrollment.webhookUrl) throw new DomainError('InvalidOperation', 'Custom allocation needs customAllocationDefinition.webhookUrl on the enrollment.');
        const decision = await askWebhook({ url: enrollment.webhookUrl, enrollment, registrationId, payload, currentHostName: prevHub?.hostName, candidates, timeoutMs: this.opts.webhookTimeoutMs });
        target = decision.hub;
        initialTwin = decision.initialTwin ?? initialTwin;
        returned = decision.payload;
      } else target = hashedChoice(candidates, registrationId);
    }
    const modelId = typeof payload?.['modelId'] === 'string' ? payload['modelId'] : undefined;
    const moved = prev !== undefined && prev.hub !== '' && (prev.hub !== target.hub || prev.deviceId !== deviceId);
    const substatus = moved
      ? await this.#move({ fromHub: prev.hub, fromDeviceId: prev.deviceId, to: target, cred, migrate: enrollment.migrateDeviceData, initialTwin, modelId })
      : await this.#place(target, cred, initialTwin, modelId, (prev?.doc['substatus'] as Substatus | undefined) ?? 'initialAssignment');
    return { hub: target, deviceId, substatus, payload: returned };
  }

  /** First assignment, or re-registration to the same hub: the twin is set only when the identity is new. */
  async #place(target: LinkedHub, cred: DeviceCredentials, initialTwin: JsonObject | undefined, modelId: string | undefined, substatus: Substatus): Promise<Substatus> {
    const { created, disabled } = await this.identities.ensure(target.hub, cred);
    if (disabled) throw disabledIn(target, cred.deviceId);
    if (created) await this.identities.writeTwin(target.hub, cred.deviceId, { ...twinOf(initialTwin), modelId });
    else if (modelId) await this.identities.writeTwin(target.hub, cred.deviceId, { modelId });
    return substatus;
  }

  /**
   * Move a device between hubs: the identity is created in the new hub with the twin migrated (or
   * reset to the initial twin), then removed from the old hub, which from then on refuses the
   * device's cached connection string.
   */
  async #move(m: { fromHub: string; fromDeviceId: string; to: LinkedHub; cred: DeviceCredentials; migrate: boolean; initialTwin: JsonObject | undefined; modelId: string | undefined; substatus?: Substatus }): Promise<Substatus> {
    let data: TwinData | undefined;
    if (m.migrate) {
      try {
        data = await this.identities.readTwin(m.fromHub, m.fromDeviceId);
      } catch (err) {
        if (!(err instanceof DomainError && err.spec.http === 404)) throw err;
      }
    }
    const { disabled } = await this.identities.ensure(m.to.hub, m.cred);
    if (disabled) throw disabledIn(m.to, m.cred.deviceId);
    await this.identities.writeTwin(m.to.hub, m.cred.deviceId, { ...(data ?? twinOf(m.initialTwin)), modelId: m.modelId });
    await this.identities.remove(m.fromHub, m.fromDeviceId);
    return m.substatus ?? (m.migrate && data ? 'deviceDataMigrated' : 'deviceDataReset');
  }

  /**
   * Manual failover (IoT Central): move the registered device to another linked hub with its twin,
   * until `revertAt`; the original hub is remembered across repeated failovers.
   */
  async failover(instance: InstanceRecord, registrationId: string, ttlMinutes: number, targetHub: string): Promise<JsonObject> {
    return this.store.withRegistrationLock(instance.name, registrationId, async (client) => {
      const reg = await this.#assigned(client, instance, registrationId);
      const current = instance.linkedHubs.find((h) => h.hub === reg.hub);
      const others = instance.linkedHubs.filter((h) => h.hub !== reg.hub && h.allocationWeight > 0);
      const target = targetHub ? instance.linkedHubs.find((h) => h.hub === targetHub || h.hostName === targetHub) : others.length > 0 ? lowestLoadChoice(others, await this.store.hubLoad(instance.name)) : undefined;
      if (!target || target.hub === reg.hub) throw new DomainError('InvalidOperation', targetHub ? `Hub "${targetHub}" is not another hub linked to this provisioning service.` : 'There is no other linked hub to fail over to.');
      const existing = await this.store.failover(client, instance.name, registrationId);
      const revertAt = new Date(this.#now().getTime() + ttlMinutes * 60_000);
      await this.#relocate(client, instance, reg, target, 'deviceDataMigrated');
      await this.store.saveFailover(client, { instance: instance.name, registrationId, originalHub: existing?.originalHub ?? reg.hub, failoverHub: target.hub, revertAt });
      return {
        hubIdentifier: etagOf('hub', target.hub, 0),
        hostName: target.hostName,
        originalHostName: current?.hostName ?? reg.hub,
        revertAtUtc: revertAt.toISOString(),
        message:
          `Success! This device is now being failed over. You can check your device's status using 'iothub dps registration show' command. ` +
          `The device will revert to its original hub at ${revertAt.toUTCString()}. You can choose to failback earlier using 'iothub device manual-failback'.`,
      };
    });
  }

  /** End a failover: back to the original hub with the twin. */
  async failback(instance: InstanceRecord, registrationId: string): Promise<JsonObject> {
    return this.store.withRegistrationLock(instance.name, registrationId, async (client) => {
      const f = await this.store.failover(client, instance.name, registrationId);
      if (!f) throw new DomainError('InvalidOperation', `Registration "${registrationId}" is not failed over.`);
      const reg = await this.#assigned(client, instance, registrationId);
      const original = instance.linkedHubs.find((h) => h.hub === f.originalHub);
      if (!original) throw new DomainError('InvalidOperation', `The original hub "${f.originalHub}" is no longer linked to this provisioning service.`);
      if (reg.hub !== original.hub) await this.#relocate(client, instance, reg, original, 'reprovisionedToInitialAssignment');
      await this.store.deleteFailover(client, instance.name, registrationId);
      return { hubIdentifier: etagOf('hub', original.hub, 0), hostName: original.hostName, message: `Success! This device is back on its original hub ${original.hostName}.` };
    });
  }

  async #assigned(client: PoolClient, instance: InstanceRecord, registrationId: string): Promise<RegistrationRecord> {
    const reg = await this.store.registration(client, instance.name, registrationId, true);
    if (!reg) throw new DomainError('NotFound', `No registration "${registrationId}" in this provisioning service.`);
    if (reg.doc['status'] !== 'assigned' || !reg.hub) throw new DomainError('InvalidOperation', `Registration "${registrationId}" is not assigned to a hub.`);
    return reg;
  }

  /** Move an assigned device (keys as it has them now) and update its registration record. */
  async #relocate(client: PoolClient, instance: InstanceRecord, reg: RegistrationRecord, target: LinkedHub, substatus: Substatus): Promise<void> {
    const device = await this.identities.find(reg.hub, reg.deviceId);
    const auth = device ? identityAuthOf(device) : undefined;
    if (!device || !auth) throw new DomainError('DeviceNotFound', `Device "${reg.deviceId}" is not in its hub any more; register it again.`);
    const cred: DeviceCredentials = { deviceId: reg.deviceId, auth, iotEdge: device.iotEdge };
    await this.#move({ fromHub: reg.hub, fromDeviceId: reg.deviceId, to: target, cred, migrate: true, initialTwin: undefined, modelId: undefined, substatus });
    const doc: JsonObject = { ...reg.doc, assignedHub: target.hostName, substatus, lastUpdatedDateTimeUtc: this.#now().toISOString(), etag: etagOf('registration', reg.registrationId, reg.version + 1) };
    await this.store.saveRegistration(client, instance.name, { ...reg, hub: target.hub, doc });
  }
}

/**
 * How the device will authenticate to its hub: symmetric keys (the enrollment's, or derived from the
 * group's), or — X.509 — the thumbprints of the enrollment's client certificates (individual) or of
 * the certificate the device presented (group), as a self-signed identity the hub checks by thumbprint.
 */
function identityAuth(enrollment: Enrollment, registrationId: string, leaf: X509Certificate | undefined): IdentityAuth {
  const keys = deviceKeys(enrollment, registrationId);
  if (keys) return { type: 'sas', ...keys };
  const certs = enrollment.kind === 'individual' ? attestationCertificates(enrollment.doc).map((p) => parseCertificate(p)) : [leaf];
  const [primary, secondary] = certs.map((c) => (c ? thumbprints(c).sha256 : ''));
  if (!primary) throw new DomainError('InvalidOperation', 'The X.509 enrollment has no certificate to register the device with.');
  return { type: 'selfSigned', primaryThumbprint: primary, secondaryThumbprint: secondary ?? '' };
}

function disabledIn(hub: LinkedHub, deviceId: string): DomainError {
  return new DomainError('DeviceDisabled', `Device "${deviceId}" is disabled in IoT hub ${hub.hostName}; an operator must enable it before it can be provisioned again.`);
}
