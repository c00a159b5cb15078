import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDevCa, createSelfSignedClientCertificate, issueCertificate } from './dev-ca.js';
import { commonName, containsPrivateKey, matchesThumbprint, parseCertificates, thumbprints, verifyChain } from './x509.js';

const x = (pem: string) => new X509Certificate(pem);

describe('X.509 chains (protocols-ops §3.3)', () => {
  it('accepts root → intermediate → intermediate → leaf, with or without the root in the chain', async () => {
    const root = await createDevCa('Company X');
    const factory = await issueCertificate(root, { commonName: 'Factory Y', usage: 'ca' });
    const tech = await issueCertificate(factory, { commonName: 'Technician Z', usage: 'ca' });
    const leaf = await issueCertificate(tech, { commonName: 'device-1', usage: 'client' });
    const anchors = [x(root.cert)];
    expect(verifyChain([x(leaf.cert), x(tech.cert), x(factory.cert)], anchors)?.fingerprint256).toBe(x(root.cert).fingerprint256);
    expect(verifyChain([x(leaf.cert), x(tech.cert), x(factory.cert), x(root.cert)], anchors)).toBeDefined();
    // an intermediate can be the anchor itself (a verified intermediate CA)
    expect(verifyChain([x(leaf.cert), x(tech.cert)], [x(factory.cert)])).toBeDefined();
    expect(commonName(x(leaf.cert))).toBe('device-1');
  });

  it('refuses a broken link, an unknown root, a missing intermediate and an expired leaf', async () => {
    const root = await createDevCa('Root');
    const other = await createDevCa('Other root');
    const mid = await issueCertificate(root, { commonName: 'Mid', usage: 'ca' });
    const stranger = await issueCertificate(other, { commonName: 'Stranger mid', usage: 'ca' });
    const leaf = await issueCertificate(mid, { commonName: 'dev', usage: 'client' });
    expect(verifyChain([x(leaf.cert), x(stranger.cert)], [x(root.cert)])).toBeUndefined();
    expect(verifyChain([x(leaf.cert), x(mid.cert)], [x(other.cert)])).toBeUndefined();
    expect(verifyChain([x(leaf.cert)], [x(root.cert)])).toBeUndefined();
    expect(verifyChain([x(leaf.cert), x(mid.cert)], [x(root.cert)], Date.now() + 1000 * 86400_000)).toBeUndefined();
    expect(verifyChain([], [x(root.cert)])).toBeUndefined();
  });

  it('refuses a leaf certificate used as an intermediate', async () => {
    const root = await createDevCa('Root');
    const leafAsCa = await issueCertificate(root, { commonName: 'not a ca', usage: 'client' });
    const forged = await issueCertificate(leafAsCa, { commonName: 'dev', usage: 'client' });
    expect(verifyChain([x(forged.cert), x(leafAsCa.cert)], [x(root.cert)])).toBeUndefined();
  });

  it('matches SHA-1 and SHA-256 thumbprints in any case, with or without colons', async () => {
    const c = x((await createSelfSignedClientCertificate('dev-x')).cert);
    const t = thumbprints(c);
    expect(t.sha1).toMatch(/^[0-9A-F]{40}$/);
    expect(t.sha256).toMatch(/^[0-9A-F]{64}$/);
    expect(matchesThumbprint(c, t.sha1.toLowerCase())).toBe(true);
    expect(matchesThumbprint(c, c.fingerprint256)).toBe(true);
    expect(matchesThumbprint(c, '00'.repeat(20))).toBe(false);
    expect(matchesThumbprint(c, undefined)).toBe(false);
  });

  it('reads PEM bundles and spots private keys', async () => {
    const a = await createDevCa('A');
    const b = await createDevCa('B');
    expect(parseCertificates(`${a.cert}\n${b.cert}`).map(commonName)).toEqual(['A', 'B']);
    expect(containsPrivateKey(a.cert)).toBe(false);
    expect(containsPrivateKey(`${a.cert}${a.key}`)).toBe(true);
  });
});
