import type { X509Certificate } from 'node:crypto';
import { commonName, deriveDeviceKey, isCurrentlyValid, isSasExpired, matchesThumbprint, parseCertificate, parseSasToken, verifyChain, verifySasWithAnyKey } from '@openiothub/auth';
import { UnauthorizedError } from '@openiothub/errors';
import { attestationCertificates, enrollmentOf, type Enrollment, type JsonObject } from './documents.js';

/** Where the enrollments of an instance come from (the store, in production). */
export interface EnrollmentSource {
  individual(instance: string, registrationId: string): Promise<JsonObject | undefined>;
  /** Enrollment groups with this attestation type. */
  groups(instance: string, type: 'symmetricKey' | 'x509'): Promise<Array<{ id: string; doc: JsonObject }>>;
}

/** What a device proved itself with: a SAS token, or the TLS client certificate chain it presented. */
export type DeviceCredential = { readonly sasToken: string } | { readonly chain: readonly X509Certificate[] };

/** The device keys an enrollment gives a registration id: its own, or derived from the group keys. */
export function deviceKeys(enrollment: Enrollment, registrationId: string): { primaryKey: string; secondaryKey: string } | undefined {
  const att = enrollment.attestation;
  if (att.type !== 'symmetricKey') return undefined;
  if (enrollment.kind === 'individual') return { primaryKey: att.primaryKey, secondaryKey: att.secondaryKey };
  return { primaryKey: deriveDeviceKey(att.primaryKey, registrationId), secondaryKey: deriveDeviceKey(att.secondaryKey, registrationId) };
}

const refuse = () => new UnauthorizedError('The device is not authorized to register with this provisioning service.');

/**
 * Symmetric-key attestation (sdk-compat §9): `sr = {idScope}/registrations/{registrationId}`,
 * `skn=registration`, signed with the individual enrollment's key or the key derived from an
 * enrollment group's. An individual enrollment takes precedence over groups, as in DPS. Every
 * failure is the same 401, so a caller learns nothing about which enrollments exist.
 */
export async function attest(
  source: EnrollmentSource,
  instance: { name: string; idScope: string },
  registrationId: string,
  credential: DeviceCredential,
  nowMs: number = Date.now(),
): Promise<{ enrollment: Enrollment; expiresAtMs: number; leaf?: X509Certificate }> {
  if ('chain' in credential) return attestX509(source, instance, registrationId, credential.chain, nowMs);
  const token = parseSasToken(credential.sasToken);
  const expected = `${instance.idScope}/registrations/${registrationId}`.toLowerCase();
  if (token.resourceUri.toLowerCase() !== expected || token.skn !== 'registration' || isSasExpired(token, nowMs)) throw refuse();
  const individual = await source.individual(instance.name, registrationId);
  if (individual) {
    const enrollment = enrollmentOf('individual', registrationId, individual);
    const keys = deviceKeys(enrollment, registrationId);
    if (keys && verifySasWithAnyKey(token, [keys.primaryKey, keys.secondaryKey])) return { enrollment, expiresAtMs: token.se * 1000 };
    throw refuse();
  }
  for (const g of await source.groups(instance.name, 'symmetricKey')) {
    const enrollment = enrollmentOf('group', g.id, g.doc);
    const keys = deviceKeys(enrollment, registrationId);
    if (keys && verifySasWithAnyKey(token, [keys.primaryKey, keys.secondaryKey])) return { enrollment, expiresAtMs: token.se * 1000 };
  }
  throw refuse();
}

const certificatesOf = (doc: JsonObject) => attestationCertificates(doc).map((p) => parseCertificate(p)).filter((c): c is X509Certificate => c !== undefined);

/**
 * X.509 attestation (the TLS handshake proved the leaf's private key): the leaf's subject CN is the
 * registration id; an individual enrollment's primary or secondary client certificate must be the
 * leaf itself; else an X.509 enrollment group whose signing certificate (root or intermediate) the
 * chain reaches. Same single 401 for every failure.
 */
async function attestX509(
  source: EnrollmentSource,
  instance: { name: string },
  registrationId: string,
  chain: readonly X509Certificate[],
  nowMs: number,
): Promise<{ enrollment: Enrollment; expiresAtMs: number; leaf: X509Certificate }> {
  const leaf = chain[0];
  if (!leaf || commonName(leaf) !== registrationId || !isCurrentlyValid(leaf, nowMs)) throw refuse();
  const expiresAtMs = new Date(leaf.validTo).getTime();
  const individual = await source.individual(instance.name, registrationId);
  if (individual) {
    const enrollment = enrollmentOf('individual', registrationId, individual);
    if (enrollment.attestation.type === 'x509' && certificatesOf(individual).some((c) => matchesThumbprint(leaf, c.fingerprint256))) return { enrollment, expiresAtMs, leaf };
    throw refuse();
  }
  for (const g of await source.groups(instance.name, 'x509')) {
    if (verifyChain(chain, certificatesOf(g.doc), nowMs)) return { enrollment: enrollmentOf('group', g.id, g.doc), expiresAtMs, leaf };
  }
  throw refuse();
}
