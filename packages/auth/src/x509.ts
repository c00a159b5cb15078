import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** Upper-case hex SHA-1 and SHA-256 thumbprints of a certificate, as IoT Hub shows them. */
export function thumbprints(cert: X509Certificate): { sha1: string; sha256: string } {
  return { sha1: cert.fingerprint.replace(/:/g, '').toUpperCase(), sha256: cert.fingerprint256.replace(/:/g, '').toUpperCase() };
}

/** True when `thumbprint` (SHA-1 or SHA-256 hex, any case, colons allowed) is this certificate's. */
export function matchesThumbprint(cert: X509Certificate, thumbprint: string | undefined): boolean {
  if (!thumbprint) return false;
  const t = thumbprint.replace(/:/g, '').toUpperCase();
  const own = thumbprints(cert);
  return t === own.sha1 || t === own.sha256;
}

/** The subject's common name (the last CN if several), or undefined. */
export function commonName(cert: X509Certificate): string | undefined {
  const cns = cert.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
  return cns[cns.length - 1];
}

/** True when `now` is within the certificate's validity period. */
export function isCurrentlyValid(cert: X509Certificate, now: number = Date.now()): boolean {
  return new Date(cert.validFrom).getTime() <= now && now <= new Date(cert.validTo).getTime();
}

/** Parse one PEM (or base64 DER) certificate; undefined when it is not one. */
export function parseCertificate(text: string | Buffer): X509Certificate | undefined {
  try {
    const s = Buffer.isBuffer(text) ? text : text.includes('BEGIN CERTIFICATE') ? text : Buffer.from(text, 'base64');
    return new X509Certificate(s);
  } catch {
    return undefined;
  }
}

/** Every certificate in a PEM bundle, in order. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => parseCertificate(b)).filter((c): c is X509Certificate => c !== undefined);
}

/** True when the text carries a private key (never allowed in an uploaded CA certificate). */
export function containsPrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
}

/**
 * The chain a TLS client presented: its certificate first, then the certificates it sent after it
 * (leaf → … toward the root), or [] when it sent none. Node exposes them linked by issuer; the
 * walk stops at a self-issued certificate or where the client sent no more.
 */
export function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let c = socket.getPeerCertificate(true) as unknown as { raw?: Buffer; issuerCertificate?: unknown } | null;
  const seen = new Set<string>();
  while (c && c.raw && c.raw.length > 0) {
    const cert = new X509Certificate(c.raw);
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    chain.push(cert);
    c = c.issuerCertificate as typeof c;
  }
  return chain;
}

/**
 * Verify a presented chain against trust anchors (verified CA certificates): every link is signed
 * by the next, every certificate is within its validity period, the intermediates are CAs, and the
 * chain ends at an anchor — either the anchor itself is in the chain, or its last certificate is
 * signed by one. Returns the anchor reached, or undefined.
 */
export function verifyChain(chain: readonly X509Certificate[], anchors: readonly X509Certificate[], now: number = Date.now()): X509Certificate | undefined {
  if (chain.length === 0) return undefined;
  const isAnchor = (c: X509Certificate) => anchors.find((a) => a.fingerprint256 === c.fingerprint256);
  for (let i = 0; i < chain.length; i += 1) {
    const cert = chain[i]!;
    if (!isCurrentlyValid(cert, now)) return undefined;
    if (i > 0 && !cert.ca) return undefined;
    const anchor = isAnchor(cert);
    if (anchor && i > 0) return anchor;
    const signer = anchors.find((a) => cert.checkIssued(a) && cert.verify(a.publicKey) && isCurrentlyValid(a, now));
    if (signer) return signer;
    const next = chain[i + 1];
    if (!next || !cert.checkIssued(next) || !cert.verify(next.publicKey)) return undefined;
  }
  return undefined;
}
