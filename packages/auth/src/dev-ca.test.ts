import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { certificateThumbprint, createDevCa, issueCertificate } from './dev-ca.js';
import { hasPermission, defaultPolicies } from './permissions.js';
import { generateSymmetricKey, isValidSymmetricKey } from './keys.js';

describe('dev CA', () => {
  it('issues a localhost server certificate that chains to the CA', async () => {
    const ca = await createDevCa();
    const leaf = await issueCertificate(ca, { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'], usage: 'server' });
    const caCert = new X509Certificate(ca.cert);
    const cert = new X509Certificate(leaf.cert);
    expect(caCert.ca).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(certificateThumbprint(leaf.cert)).toMatch(/^[0-9A-F]{64}$/);
  });
});

describe('permissions and keys', () => {
  it('gives every default policy its documented rights', () => {
    const byName = Object.fromEntries(defaultPolicies.map((p) => [p.name, p.rights]));
    expect(Object.keys(byName).sort()).toEqual(['device', 'iothubowner', 'registryRead', 'registryReadWrite', 'service']);
    expect(hasPermission(byName['registryRead']!, 'RegistryWrite')).toBe(false);
    expect(hasPermission(byName['registryReadWrite']!, 'RegistryRead')).toBe(true);
    expect(hasPermission(byName['service']!, 'RegistryRead')).toBe(false);
    expect(hasPermission(byName['iothubowner']!, 'DeviceConnect')).toBe(true);
  });

  it('generates valid 256-bit keys and rejects bad ones', () => {
    const k = generateSymmetricKey();
    expect(Buffer.from(k, 'base64')).toHaveLength(32);
    expect(isValidSymmetricKey(k)).toBe(true);
    expect(isValidSymmetricKey('not base64!')).toBe(false);
    expect(isValidSymmetricKey(Buffer.alloc(8).toString('base64'))).toBe(false);
  });
});
