import { deriveDeviceKey, isSasExpired, parseSasToken, verifySasWithAnyKey } from '@openiothub/auth';
import { UnauthorizedError } from '@openiothub/errors';
import { enrollmentOf, type Enrollment, type JsonObject } from './documents.js';

/** Where the enrollments of an instance come from (the store, in production). */
export interface EnrollmentSource {
  individual(instance: string, registrationId: string): Promise<JsonObject | undefined>;
  symmetricGroups(instance: string): Promise<Array<{ id: string; doc: JsonObject }>>;
}

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
  sasToken: string,
  nowMs: number = Date.now(),
): Promise<{ enrollment: Enrollment; expiresAtMs: number }> {
  const token = parseSasToken(sasToken);
  const expected = `${instance.idScope}/registrations/${registrationId}`.toLowerCase();
  if (token.resourceUri.toLowerCase() !== expected || token.skn !== 'registration' || isSasExpired(token, nowMs)) throw refuse();
  const individual = await source.individual(instance.name, registrationId);
  if (individual) {
    const enrollment = enrollmentOf('individual', registrationId, individual);
    const keys = deviceKeys(enrollment, registrationId);
    if (keys && verifySasWithAnyKey(token, [keys.primaryKey, keys.secondaryKey])) return { enrollment, expiresAtMs: token.se * 1000 };
    throw refuse();
  }
  for (const g of await source.symmetricGroups(instance.name)) {
    const enrollment = enrollmentOf('group', g.id, g.doc);
    const keys = deviceKeys(enrollment, registrationId);
    if (keys && verifySasWithAnyKey(token, [keys.primaryKey, keys.secondaryKey])) return { enrollment, expiresAtMs: token.se * 1000 };
  }
  throw refuse();
}
