import { X509Certificate, createHash } from 'node:crypto';
import { generateSymmetricKey, isValidSymmetricKey } from '@openiothub/auth';
import { ArgumentInvalidError } from '@openiothub/errors';

/** JSON as the DPS service REST API (api-version 2021-10-01) writes it. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export const ALLOCATION_POLICIES = ['hashed', 'static', 'geoLatency', 'lowestLoad', 'custom'] as const;
export type AllocationPolicy = (typeof ALLOCATION_POLICIES)[number];

/** DPS registration ids: lower-case alphanumerics and `-._:`, at most 128 characters. */
const REGISTRATION_ID = /^[a-z0-9\-._:]{1,128}$/;
/** IoT Hub device ids (devguide §10.1). */
const DEVICE_ID = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;
const GROUP_ID = /^[A-Za-z0-9\-._:]{1,128}$/;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function assertRegistrationId(id: string): string {
  if (!REGISTRATION_ID.test(id)) {
    throw new ArgumentInvalidError(`Registration id "${id.slice(0, 140)}" is invalid: use 1-128 lower-case letters, digits and - . _ : characters.`);
  }
  return id;
}

export function assertGroupId(id: string): string {
  if (!GROUP_ID.test(id)) throw new ArgumentInvalidError(`Enrollment group id "${id.slice(0, 140)}" is invalid: use 1-128 letters, digits and - . _ : characters.`);
  return id;
}

/** An enrollment document as the service API shows it: X.509 certificates by their info only, as DPS does. */
export function publicView(doc: JsonObject): JsonObject {
  const att = doc['attestation'];
  if (!isObject(att) || !isObject(att['x509'])) return doc;
  const x509: JsonObject = {};
  for (const [field, value] of Object.entries(att['x509'])) {
    if (!isObject(value) || field === 'caReferences') {
      x509[field] = value;
      continue;
    }
    const certs: JsonObject = {};
    for (const [which, c] of Object.entries(value)) certs[which] = isObject(c) ? { info: c['info'] ?? null } : c;
    x509[field] = certs;
  }
  return { ...doc, attestation: { ...att, x509 } };
}

/** The PEMs of an X.509 attestation's client (individual) or signing (group) certificates. */
export function attestationCertificates(doc: JsonObject): string[] {
  const att = doc['attestation'];
  if (!isObject(att) || !isObject(att['x509'])) return [];
  const out: string[] = [];
  for (const field of ['clientCertificates', 'signingCertificates']) {
    const certs = att['x509'][field];
    if (!isObject(certs)) continue;
    for (const which of ['primary', 'secondary']) {
      const c = certs[which];
      if (isObject(c) && typeof c['certificate'] === 'string') out.push(c['certificate']);
    }
  }
  return out;
}

/** What registration needs from an enrollment or enrollment group, read once from its document. */
export interface Enrollment {
  readonly kind: 'individual' | 'group';
  readonly id: string;
  readonly doc: JsonObject;
  readonly enabled: boolean;
  readonly attestation: { readonly type: 'symmetricKey'; readonly primaryKey: string; readonly secondaryKey: string } | { readonly type: 'x509' };
  /** Individual enrollments may name the device; groups use the registration id. */
  readonly deviceId: string | undefined;
  readonly iotEdge: boolean;
  readonly initialTwin: JsonObject | undefined;
  readonly allocationPolicy: AllocationPolicy | undefined;
  /** Host names (or hub names) of the hubs this enrollment may use; empty: every linked hub that applies the policy. */
  readonly iotHubs: readonly string[];
  readonly webhookUrl: string | undefined;
  readonly updateHubAssignment: boolean;
  readonly migrateDeviceData: boolean;
}

/** Read a stored (already validated) document. */
export function enrollmentOf(kind: 'individual' | 'group', id: string, doc: JsonObject): Enrollment {
  const att = doc['attestation'] as JsonObject;
  const sym = isObject(att['symmetricKey']) ? att['symmetricKey'] : undefined;
  const policy = isObject(doc['reprovisionPolicy']) ? doc['reprovisionPolicy'] : {};
  const custom = isObject(doc['customAllocationDefinition']) ? doc['customAllocationDefinition'] : undefined;
  return {
    kind,
    id,
    doc,
    enabled: doc['provisioningStatus'] !== 'disabled',
    attestation: att['type'] === 'symmetricKey' && sym ? { type: 'symmetricKey', primaryKey: String(sym['primaryKey']), secondaryKey: String(sym['secondaryKey']) } : { type: 'x509' },
    deviceId: kind === 'individual' && typeof doc['deviceId'] === 'string' && doc['deviceId'] ? doc['deviceId'] : undefined,
    iotEdge: isObject(doc['capabilities']) && doc['capabilities']['iotEdge'] === true,
    initialTwin: isObject(doc['initialTwin']) ? doc['initialTwin'] : undefined,
    allocationPolicy: typeof doc['allocationPolicy'] === 'string' ? (doc['allocationPolicy'] as AllocationPolicy) : undefined,
    iotHubs: Array.isArray(doc['iotHubs']) ? doc['iotHubs'].map(String) : [],
    webhookUrl: custom && typeof custom['webhookUrl'] === 'string' ? custom['webhookUrl'] : undefined,
    updateHubAssignment: policy['updateHubAssignment'] !== false,
    migrateDeviceData: policy['migrateDeviceData'] !== false,
  };
}

function optionalString(doc: JsonObject, key: string): string | undefined {
  const v = doc[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ArgumentInvalidError(`${key} must be a string.`);
  return v;
}

function certificateInfo(pem: string): JsonObject {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem.includes('BEGIN CERTIFICATE') ? pem : Buffer.from(pem, 'base64'));
  } catch {
    throw new ArgumentInvalidError('An attestation certificate is not a valid X.509 certificate (PEM or base64 DER).');
  }
  return {
    subjectName: cert.subject.replace(/\n/g, ', '),
    sha1Thumbprint: cert.fingerprint.replace(/:/g, ''),
    sha256Thumbprint: cert.fingerprint256.replace(/:/g, ''),
    issuerName: cert.issuer.replace(/\n/g, ', '),
    notBeforeUtc: new Date(cert.validFrom).toISOString(),
    notAfterUtc: new Date(cert.validTo).toISOString(),
    serialNumber: cert.serialNumber,
    version: 3,
  };
}

/** Normalise an attestation mechanism; symmetric keys left out are generated (as DPS does). */
function normaliseAttestation(raw: Json | undefined, kind: 'individual' | 'group'): JsonObject {
  if (!isObject(raw)) throw new ArgumentInvalidError('attestation is required: {"type": "symmetricKey" | "x509", …}.');
  const type = raw['type'];
  if (type === 'symmetricKey') {
    const sym = isObject(raw['symmetricKey']) ? raw['symmetricKey'] : {};
    const key = (name: string) => {
      const v = sym[name];
      if (v === undefined || v === null || v === '') return generateSymmetricKey();
      if (typeof v !== 'string' || !isValidSymmetricKey(v)) throw new ArgumentInvalidError(`attestation.symmetricKey.${name} must be a base64 key of 16 to 64 bytes.`);
      return v;
    };
    return { type, symmetricKey: { primaryKey: key('primaryKey'), secondaryKey: key('secondaryKey') } };
  }
  if (type === 'x509') {
    const x = isObject(raw['x509']) ? raw['x509'] : {};
    const field = kind === 'individual' ? 'clientCertificates' : 'signingCertificates';
    const certs = isObject(x[field]) ? x[field] : undefined;
    const caRefs = isObject(x['caReferences']) ? x['caReferences'] : undefined;
    if (certs && isObject(certs['primary']) && typeof certs['primary']['certificate'] === 'string') {
      const out: JsonObject = {};
      for (const which of ['primary', 'secondary']) {
        const c = certs[which];
        // the certificate is kept (attestation needs it) but never shown: see publicView
        if (isObject(c) && typeof c['certificate'] === 'string') out[which] = { certificate: c['certificate'].trim(), info: certificateInfo(c['certificate']) };
      }
      return { type, x509: { [field]: out } };
    }
    if (kind === 'group' && caRefs && typeof caRefs['primary'] === 'string') return { type, x509: { caReferences: caRefs } };
    throw new ArgumentInvalidError(`attestation.x509.${field}.primary.certificate is required${kind === 'group' ? ' (or x509.caReferences.primary)' : ''}.`);
  }
  if (type === 'tpm') throw new ArgumentInvalidError('TPM attestation is not supported by this service; use symmetricKey or x509.');
  throw new ArgumentInvalidError('attestation.type must be "symmetricKey" or "x509".');
}

function normaliseInitialTwin(raw: Json | undefined): JsonObject | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw new ArgumentInvalidError('initialTwin must be {"tags": {…}, "properties": {"desired": {…}}}.');
  const out: JsonObject = {};
  if (raw['tags'] !== undefined && raw['tags'] !== null) {
    if (!isObject(raw['tags'])) throw new ArgumentInvalidError('initialTwin.tags must be an object.');
    out['tags'] = raw['tags'];
  }
  const props = raw['properties'];
  if (props !== undefined && props !== null) {
    if (!isObject(props) || (props['desired'] !== undefined && props['desired'] !== null && !isObject(props['desired']))) {
      throw new ArgumentInvalidError('initialTwin.properties.desired must be an object.');
    }
    if (isObject(props['desired'])) out['properties'] = { desired: props['desired'] };
  }
  return out;
}

/**
 * Validate and normalise an enrollment (`kind` individual) or enrollment group document from a PUT.
 * Keeps created time of `previous`; the caller stamps etag and times.
 */
export function normaliseEnrollment(kind: 'individual' | 'group', id: string, body: unknown): JsonObject {
  if (!isObject(body)) throw new ArgumentInvalidError('The enrollment must be a JSON object.');
  const idField = kind === 'individual' ? 'registrationId' : 'enrollmentGroupId';
  const givenId = body[idField];
  if (givenId !== undefined && givenId !== id) throw new ArgumentInvalidError(`${idField} in the body ("${String(givenId)}") differs from the one in the path ("${id}").`);
  const doc: JsonObject = { [idField]: id };
  if (kind === 'individual') {
    const deviceId = optionalString(body, 'deviceId');
    if (deviceId !== undefined) {
      if (!DEVICE_ID.test(deviceId)) throw new ArgumentInvalidError(`deviceId "${deviceId.slice(0, 140)}" is not a valid IoT Hub device id.`);
      doc['deviceId'] = deviceId;
    }
  }
  doc['attestation'] = normaliseAttestation(body['attestation'], kind);
  const caps = body['capabilities'];
  doc['capabilities'] = { iotEdge: isObject(caps) && caps['iotEdge'] === true };
  const twin = normaliseInitialTwin(body['initialTwin']);
  if (twin) doc['initialTwin'] = twin;
  const status = body['provisioningStatus'] ?? 'enabled';
  if (status !== 'enabled' && status !== 'disabled') throw new ArgumentInvalidError('provisioningStatus must be "enabled" or "disabled".');
  doc['provisioningStatus'] = status;
  const rp = body['reprovisionPolicy'];
  if (rp !== undefined && rp !== null && !isObject(rp)) throw new ArgumentInvalidError('reprovisionPolicy must be {"updateHubAssignment": bool, "migrateDeviceData": bool}.');
  doc['reprovisionPolicy'] = {
    updateHubAssignment: !(isObject(rp) && rp['updateHubAssignment'] === false),
    migrateDeviceData: !(isObject(rp) && rp['migrateDeviceData'] === false),
  };
  const policy = body['allocationPolicy'];
  if (policy !== undefined && policy !== null) {
    if (typeof policy !== 'string' || !(ALLOCATION_POLICIES as readonly string[]).includes(policy)) {
      throw new ArgumentInvalidError(`allocationPolicy must be one of ${ALLOCATION_POLICIES.join(', ')}.`);
    }
    doc['allocationPolicy'] = policy;
  }
  const hubs = body['iotHubs'];
  if (hubs !== undefined && hubs !== null) {
    if (!Array.isArray(hubs) || hubs.some((h) => typeof h !== 'string' || h === '')) throw new ArgumentInvalidError('iotHubs must be an array of hub host names.');
    doc['iotHubs'] = hubs;
  }
  const legacyHub = optionalString(body, 'iotHubHostName');
  if (legacyHub && !doc['iotHubs']) doc['iotHubs'] = [legacyHub];
  if (doc['allocationPolicy'] === 'static' && (!Array.isArray(doc['iotHubs']) || doc['iotHubs'].length !== 1)) {
    throw new ArgumentInvalidError('A static allocation policy needs exactly one hub in iotHubs.');
  }
  const custom = body['customAllocationDefinition'];
  if (doc['allocationPolicy'] === 'custom') {
    if (!isObject(custom) || typeof custom['webhookUrl'] !== 'string' || !/^https?:\/\//.test(custom['webhookUrl'])) {
      throw new ArgumentInvalidError('A custom allocation policy needs customAllocationDefinition.webhookUrl (an http or https URL).');
    }
    doc['customAllocationDefinition'] = { webhookUrl: custom['webhookUrl'], apiVersion: typeof custom['apiVersion'] === 'string' ? custom['apiVersion'] : '2019-03-31' };
  }
  return doc;
}

/** An etag for a stored version (opaque to clients; compared without quotes). */
export function etagOf(kind: string, id: string, version: number | string): string {
  return createHash('sha1').update(`${kind}\n${id}\n${version}`).digest('base64url').slice(0, 20);
}

/** True when If-Match is absent, `*`, or names this etag (quotes ignored). */
export function etagMatches(ifMatch: string | undefined, etag: string): boolean {
  if (ifMatch === undefined || ifMatch.trim() === '' || ifMatch.trim() === '*') return true;
  return ifMatch.trim().replace(/^W\//, '').replace(/^"|"$/g, '') === etag;
}
