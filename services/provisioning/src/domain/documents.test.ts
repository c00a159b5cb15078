import { describe, expect, it } from 'vitest';
import { isValidSymmetricKey } from '@openiothub/auth';
import { assertRegistrationId, enrollmentOf, etagMatches, normaliseEnrollment } from './documents.js';

const sym = { type: 'symmetricKey', symmetricKey: {} };

describe('enrollment documents', () => {
  it('generates symmetric keys that are left out, and fills the defaults DPS shows', () => {
    const doc = normaliseEnrollment('individual', 'dev-1', { registrationId: 'dev-1', attestation: sym });
    const keys = (doc['attestation'] as { symmetricKey: { primaryKey: string; secondaryKey: string } }).symmetricKey;
    expect(isValidSymmetricKey(keys.primaryKey) && isValidSymmetricKey(keys.secondaryKey)).toBe(true);
    expect(doc).toMatchObject({ provisioningStatus: 'enabled', capabilities: { iotEdge: false }, reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true } });
    const e = enrollmentOf('individual', 'dev-1', doc);
    expect(e).toMatchObject({ enabled: true, deviceId: undefined, updateHubAssignment: true, migrateDeviceData: true, iotHubs: [] });
  });

  it('keeps the initial twin (tags and desired only) and the custom allocation webhook', () => {
    const doc = normaliseEnrollment('group', 'g', {
      attestation: sym,
      initialTwin: { tags: { a: 1 }, properties: { desired: { b: 2 }, reported: { c: 3 } } },
      allocationPolicy: 'custom',
      customAllocationDefinition: { webhookUrl: 'https://alloc.example/x' },
    });
    expect(doc['initialTwin']).toEqual({ tags: { a: 1 }, properties: { desired: { b: 2 } } });
    expect(enrollmentOf('group', 'g', doc).webhookUrl).toBe('https://alloc.example/x');
  });

  it.each([
    [{ attestation: { type: 'tpm' } }, /TPM/],
    [{ attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: 'short' } } }, /16 to 64 bytes/],
    [{}, /attestation is required/],
    [{ attestation: sym, registrationId: 'other' }, /differs/],
    [{ attestation: sym, provisioningStatus: 'paused' }, /provisioningStatus/],
    [{ attestation: sym, allocationPolicy: 'random' }, /allocationPolicy/],
    [{ attestation: sym, allocationPolicy: 'static' }, /exactly one hub/],
    [{ attestation: sym, allocationPolicy: 'custom' }, /webhookUrl/],
    [{ attestation: sym, initialTwin: { tags: [1] } }, /tags/],
    [{ attestation: sym, deviceId: 'bad id with spaces' }, /deviceId/],
    [{ attestation: { type: 'x509', x509: { clientCertificates: { primary: { certificate: 'not a cert' } } } } }, /X\.509/],
  ])('refuses %j', (body, message) => {
    expect(() => normaliseEnrollment('individual', 'dev-1', body)).toThrow(message);
  });

  it('checks registration ids as DPS does (lower case, - . _ :)', () => {
    expect(assertRegistrationId('sensor-01.a_b:c')).toBe('sensor-01.a_b:c');
    expect(() => assertRegistrationId('Sensor')).toThrow(/lower-case/);
    expect(() => assertRegistrationId('a'.repeat(129))).toThrow();
  });

  it('matches If-Match with or without quotes, and * or nothing always', () => {
    expect(etagMatches(undefined, 'abc')).toBe(true);
    expect(etagMatches('*', 'abc')).toBe(true);
    expect(etagMatches('"abc"', 'abc')).toBe(true);
    expect(etagMatches('abc', 'abc')).toBe(true);
    expect(etagMatches('"abd"', 'abc')).toBe(false);
  });
});
