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
  groups: async (_i, type) =>
    type === 'symmetricKey'
      ? [
          { id: 'other', doc: doc(otherGroupKey) },
          { id: 'fleet', doc: doc(groupKey) },
        ]
      : [],
};
const token = (registrationId: string, key: string, opts: { skn?: string; ttl?: number; scope?: string } = {}) => ({
  sasToken: createSasToken({
    resourceUri: `${opts.scope ?? instance.idScope}/registrations/${registrationId}`,
    key,
    keyName: opts.skn ?? 'registration',
    expiry: Math.floor(Date.now() / 1000) + (opts.ttl ?? 600),
    encode: false,
  }),
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
    const id = make().sasToken.includes('solo') ? 'solo' : 'dev-9';
    await expect(attest(source, instance, id, make())).rejects.toMatchObject({ code: 'IotHubUnauthorizedAccess', message: 'The device is not authorized to register with this provisioning service.' });
  });
});

describe('X.509 attestation', () => {
  it('takes an individual enrollment whose client certificate is the leaf, or a group whose signing certificate the chain reaches (CN = registration id)', async () => {
    const { createDevCa, createSelfSignedClientCertificate, issueCertificate } = await import('@openiothub/auth');
    const { X509Certificate } = await import('node:crypto');
    const x = (pem: string) => new X509Certificate(pem);
    const own = await createSelfSignedClientCertificate('cam-1');
    const root = await createDevCa('Fleet root');
    const mid = await issueCertificate(root, { commonName: 'Fleet mid', usage: 'ca' });
    const member = await issueCertificate(mid, { commonName: 'cam-2', usage: 'client' });
    const stranger = await issueCertificate(await createDevCa('Other'), { commonName: 'cam-2', usage: 'client' });
    const x509Doc = (field: string, pem: string): JsonObject => ({ attestation: { type: 'x509', x509: { [field]: { primary: { certificate: pem } } } } });
    const x509Source: EnrollmentSource = {
      individual: async (_i, id) => (id === 'cam-1' ? x509Doc('clientCertificates', own.cert) : undefined),
      groups: async (_i, type) => (type === 'x509' ? [{ id: 'cams', doc: x509Doc('signingCertificates', root.cert) }] : []),
    };
    expect((await attest(x509Source, instance, 'cam-1', { chain: [x(own.cert)] })).enrollment).toMatchObject({ kind: 'individual', id: 'cam-1' });
    const viaGroup = await attest(x509Source, instance, 'cam-2', { chain: [x(member.cert), x(mid.cert)] });
    expect(viaGroup.enrollment).toMatchObject({ kind: 'group', id: 'cams' });
    expect(viaGroup.leaf?.fingerprint256).toBe(x(member.cert).fingerprint256);
    const refused = { code: 'IotHubUnauthorizedAccess' };
    await expect(attest(x509Source, instance, 'cam-2', { chain: [x(stranger.cert)] })).rejects.toMatchObject(refused);
    await expect(attest(x509Source, instance, 'cam-9', { chain: [x(member.cert), x(mid.cert)] })).rejects.toMatchObject(refused);
    await expect(attest(x509Source, instance, 'cam-1', { chain: [x((await createSelfSignedClientCertificate('cam-1')).cert)] })).rejects.toMatchObject(refused);
    await expect(attest(x509Source, instance, 'cam-2', { chain: [] })).rejects.toMatchObject(refused);
  });
});
