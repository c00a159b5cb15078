import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDevCa, issueCertificate } from '@openiothub/auth';

/** Paths of the dev CA and the server certificate it issued. */
export interface DevCertificates {
  readonly caCertPath: string;
  readonly caKeyPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Make (or reuse) `{dir}/ca.pem` and a server certificate for `localhost`, `127.0.0.1`, `::1` and
 * any extra names. Reused while it chains to the CA, covers the names and has 30 days left, so
 * trust set up once (`NODE_EXTRA_CA_CERTS`) keeps working across restarts.
 */
export async function ensureDevCertificates(dir: string, extraNames: readonly string[] = []): Promise<DevCertificates> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths: DevCertificates = {
    caCertPath: join(dir, 'ca.pem'),
    caKeyPath: join(dir, 'ca-key.pem'),
    serverCertPath: join(dir, 'server.pem'),
    serverKeyPath: join(dir, 'server-key.pem'),
  };
  const names = ['localhost', '127.0.0.1', '::1', ...extraNames];
  let ca = await loadPair(paths.caCertPath, paths.caKeyPath);
  if (!ca || !stillValid(ca.cert)) {
    ca = await createDevCa();
    await writeFile(paths.caKeyPath, ca.key, { mode: 0o600 });
    await writeFile(paths.caCertPath, ca.cert);
  }
  const server = await loadPair(paths.serverCertPath, paths.serverKeyPath);
  if (!server || !stillValid(server.cert) || !issuedBy(server.cert, ca.cert) || !covers(server.cert, names)) {
    const leaf = await issueCertificate(ca, { commonName: 'localhost', altNames: names, usage: 'server' });
    await writeFile(paths.serverKeyPath, leaf.key, { mode: 0o600 });
    await writeFile(paths.serverCertPath, leaf.cert);
  }
  return paths;
}

async function loadPair(certPath: string, keyPath: string) {
  const [cert, key] = await Promise.all([readIfPresent(certPath), readIfPresent(keyPath)]);
  return cert && key ? { cert, key } : undefined;
}

function stillValid(pem: string): boolean {
  try {
    return new Date(new X509Certificate(pem).validTo).getTime() > Date.now() + 30 * 86400_000;
  } catch {
    return false;
  }
}

function issuedBy(pem: string, caPem: string): boolean {
  try {
    const ca = new X509Certificate(caPem);
    const cert = new X509Certificate(pem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

function covers(pem: string, names: readonly string[]): boolean {
  const cert = new X509Certificate(pem);
  return names.every((n) => (/^[\d.]+$|:/.test(n) ? cert.checkIP(n) : cert.checkHost(n)) !== undefined);
}
