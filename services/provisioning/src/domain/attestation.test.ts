import { describe, expect, it } from 'vitest';
import { createSasToken, deriveDeviceKey, generateSymmetricKey } from '@openiothub/auth';
import { attest, type EnrollmentSource } from './attestation.js';
import type { JsonObject } from './documents.js';

const instance = { name: 'dps', idScope: '0ne0000ABCD' };
const individualKey = generateSymmetricKey();
const groupKey = generateSymmetricKey();
const otherGroupKey = generateSymmetricKey();
const doc = (primaryKey: string, extra: JsonObject = {}): JsonObject => ({ attestation: { type: 'symmetricKey', symmetricKey: { primaryKey, secondaryKey: generateSymmetricKey() } }, ...extra });
const source: EnrollmentSource = {
  individual: async (_i, id) => (id === 'solo' ? doc(individualKey) : undefined),
  symmetricGroups: async () => [
    { id: 'other', doc: doc(otherGroupKey) },
    { id: 'fleet', doc: doc(groupKey) },
  ],
};
const token = (registrationId: string, key: string, opts: { skn?: string; ttl?: number; scope?: string } = {}) =>
  createSasToken({
    resourceUri: `${opts.scope ?? instance.idScope}/registrations/${registrationId}`,
    key,
    keyName: opts.skn ?? 'registration',
    expiry: Math.floor(Date.now() / 1000) + (opts.ttl ?? 600),
    encode: false,
  });

describe('symmetric-key attestation', () => {
  it('accepts an individual enrollment key and a key derived from the group that issued it', async () => {
    expect((await attest(source, instance, 'solo', token('solo', individualKey))).enrollment).toMatchObject({ kind: 'individual', id: 'solo' });
    const r = await attest(source, instance, 'dev-9', token('dev-9', deriveDeviceKey(groupKey, 'dev-9')));
    expect(r.enrollment).toMatchObject({ kind: 'group', id: 'fleet' });
  });

  it.each([
    ['a group key used as is', () => token('dev-9', groupKey)],
    ['a key derived for another registration id', () => token('dev-9', deriveDeviceKey(groupKey, 'dev-8'))],
    ['another skn', () => token('dev-9', deriveDeviceKey(groupKey, 'dev-9'), { skn: 'device' })],
    ['an expired token', () => token('dev-9', deriveDeviceKey(groupKey, 'dev-9'), { ttl: -5 })],
    ['another ID scope in sr', () => token('dev-9', deriveDeviceKey(groupKey, 'dev-9'), { scope: '0ne0000FFFF' })],
    ['the group key for an id with an individual enrollment', () => token('solo', deriveDeviceKey(groupKey, 'solo'))],
  ])('refuses %s with the same 401', async (_what, make) => {
    const id = make().includes('solo') ? 'solo' : 'dev-9';
    await expect(attest(source, instance, id, make())).rejects.toMatchObject({ code: 'IotHubUnauthorizedAccess', message: 'The device is not authorized to register with this provisioning service.' });
  });
});
