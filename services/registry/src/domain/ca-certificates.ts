import { createHash, randomBytes, type X509Certificate } from 'node:crypto';
import { commonName, containsPrivateKey, isCurrentlyValid, parseCertificate, thumbprints } from '@openiothub/auth';
import { ArgumentInvalidError, DomainError, PreconditionFailedError } from '@openiothub/errors';
import type { Pool } from '@openiothub/postgres';

interface Row {
  hub: string;
  name: string;
  pem: string;
  subject: string;
  thumbprint: string;
  expiry: Date;
  is_verified: boolean;
  verification_code: string | null;
  etag_version: string;
  created: Date;
  updated: Date;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function etagOf(r: Row): string {
  return createHash('sha1').update(`${r.hub}\n${r.name}\n${r.etag_version}`).digest('base64url').slice(0, 16);
}

function matches(ifMatch: string | undefined, r: Row): boolean {
  if (ifMatch === undefined || ifMatch.trim() === '' || ifMatch.trim() === '*') return true;
  return ifMatch.trim().replace(/^W\//, '').replace(/^"|"$/g, '') === etagOf(r);
}

/** The ARM `CertificateDescription` of a row (the verification code only right after it was made). */
function describe(r: Row, opts: { verificationCode?: string; withPem?: boolean } = {}): Record<string, unknown> {
  return {
    name: r.name,
    etag: etagOf(r),
    type: 'Microsoft.Devices/IotHubs/Certificates',
    properties: {
      subject: r.subject,
      expiry: r.expiry.toUTCString(),
      thumbprint: r.thumbprint,
      isVerified: r.is_verified,
      created: r.created.toUTCString(),
      updated: r.updated.toUTCString(),
      ...(opts.withPem ? { certificate: r.pem } : {}),
      ...(opts.verificationCode ? { verificationCode: opts.verificationCode } : {}),
    },
  };
}

function parseCa(text: string): X509Certificate {
  if (containsPrivateKey(text)) throw new ArgumentInvalidError('The certificate file contains a private key: upload only the public certificate.');
  const cert = parseCertificate(text.trim());
  if (!cert) throw new ArgumentInvalidError('The certificate is not a valid X.509 certificate (PEM or base64 DER).');
  if (!cert.ca) throw new ArgumentInvalidError('The certificate is not a CA certificate (basic constraints CA:TRUE).');
  return cert;
}

/**
 * A hub's CA certificates (protocols-ops §3.2): upload (Unverified unless said otherwise), a fresh
 * single-use verification code, and proof of possession — a certificate issued by the CA whose
 * subject CN is the code. Only verified CAs are trust anchors for CA-signed devices.
 */
export class CaCertificates {
  constructor(
    private readonly pool: Pool,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async put(hub: string, name: string, certificate: string, ifMatch: string | undefined, isVerified: boolean): Promise<Record<string, unknown>> {
    if (!NAME.test(name)) throw new ArgumentInvalidError('A certificate name is 1-64 letters, digits, _ . and -.');
    const cert = parseCa(certificate);
    const current = await this.#row(hub, name);
    if (current && !matches(ifMatch, current)) throw new PreconditionFailedError(`Certificate "${name}" was changed: its etag does not match If-Match.`);
    const at = this.now();
    const { rows } = await this.pool.query(
      `INSERT INTO registry.certificates (hub, name, pem, subject, thumbprint, expiry, is_verified, created, updated)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
       ON CONFLICT (hub, name) DO UPDATE SET pem = EXCLUDED.pem, subject = EXCLUDED.subject, thumbprint = EXCLUDED.thumbprint,
         expiry = EXCLUDED.expiry, is_verified = EXCLUDED.is_verified, verification_code = NULL, updated = EXCLUDED.updated,
         etag_version = registry.certificates.etag_version + 1
       RETURNING *`,
      [hub, name, cert.toString(), commonName(cert) ?? cert.subject, thumbprints(cert).sha1, new Date(cert.validTo), isVerified, at],
    );
    return describe(rows[0] as Row);
  }

  async get(hub: string, name: string): Promise<Record<string, unknown>> {
    return describe(await this.#required(hub, name), { withPem: true });
  }

  async list(hub: string): Promise<Record<string, unknown>[]> {
    const { rows } = await this.pool.query(`SELECT * FROM registry.certificates WHERE hub = $1 ORDER BY name`, [hub]);
    return (rows as Row[]).map((r) => describe(r));
  }

  async delete(hub: string, name: string, ifMatch: string | undefined): Promise<void> {
    const r = await this.#required(hub, name);
    if (!matches(ifMatch, r)) throw new PreconditionFailedError(`Certificate "${name}" was changed: its etag does not match If-Match.`);
    await this.pool.query(`DELETE FROM registry.certificates WHERE hub = $1 AND name = $2`, [hub, name]);
  }

  /** A new random code (the old one stops working); the certificate stays as it is until verified. */
  async generateVerificationCode(hub: string, name: string, ifMatch: string | undefined): Promise<Record<string, unknown>> {
    const r = await this.#required(hub, name);
    if (!matches(ifMatch, r)) throw new PreconditionFailedError(`Certificate "${name}" was changed: its etag does not match If-Match.`);
    const code = randomBytes(24).toString('hex').toUpperCase();
    const { rows } = await this.pool.query(
      `UPDATE registry.certificates SET verification_code = $3, etag_version = etag_version + 1, updated = $4 WHERE hub = $1 AND name = $2 RETURNING *`,
      [hub, name, code, this.now()],
    );
    return describe(rows[0] as Row, { verificationCode: code });
  }

  /** Proof of possession: `certificate` must be issued and signed by this CA, unexpired, with subject CN = the current code. */
  async verify(hub: string, name: string, certificate: string, ifMatch: string | undefined): Promise<Record<string, unknown>> {
    const r = await this.#required(hub, name);
    if (!matches(ifMatch, r)) throw new PreconditionFailedError(`Certificate "${name}" was changed: its etag does not match If-Match.`);
    if (!r.verification_code) throw new DomainError('InvalidOperation', 'Generate a verification code first.');
    const proof = parseCertificate(certificate.trim());
    if (!proof) throw new ArgumentInvalidError('The verification certificate is not a valid X.509 certificate.');
    const ca = parseCertificate(r.pem)!;
    if (!proof.checkIssued(ca) || !proof.verify(ca.publicKey)) throw new ArgumentInvalidError('The verification certificate is not signed by this CA certificate.');
    if (!isCurrentlyValid(proof, this.now().getTime())) throw new ArgumentInvalidError('The verification certificate is expired or not yet valid.');
    if (commonName(proof) !== r.verification_code) throw new ArgumentInvalidError('The verification certificate subject CN is not the current verification code.');
    const { rows } = await this.pool.query(
      `UPDATE registry.certificates SET is_verified = true, verification_code = NULL, etag_version = etag_version + 1, updated = $3 WHERE hub = $1 AND name = $2 RETURNING *`,
      [hub, name, this.now()],
    );
    return describe(rows[0] as Row);
  }

  /** PEMs of the verified, unexpired CA certificates. */
  async verifiedPems(hub: string): Promise<string[]> {
    const { rows } = await this.pool.query(`SELECT pem FROM registry.certificates WHERE hub = $1 AND is_verified AND expiry > now()`, [hub]);
    return rows.map((r: { pem: string }) => r.pem);
  }

  async #row(hub: string, name: string): Promise<Row | undefined> {
    const { rows } = await this.pool.query(`SELECT * FROM registry.certificates WHERE hub = $1 AND name = $2`, [hub, name]);
    return rows[0] as Row | undefined;
  }

  async #required(hub: string, name: string): Promise<Row> {
    const r = await this.#row(hub, name);
    if (!r) throw new DomainError('NotFound', `Certificate "${name}" does not exist in hub ${hub}.`);
    return r;
  }
}
