import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createDevCa, createSelfSignedClientCertificate, issueCertificate, parseCertificate, thumbprints, type PemPair } from '@openiothub/auth';
import type { HubRestClient } from './rest-client.js';

type Print = (v: unknown) => void;

async function writePair(dir: string, base: string, pair: PemPair, chain = ''): Promise<{ certificate: string; key: string }> {
  await mkdir(dir, { recursive: true });
  const certificate = join(dir, `${base}.pem`);
  const key = join(dir, `${base}-key.pem`);
  // the certificate file carries the chain after the leaf, as TLS clients send it
  await writeFile(certificate, `${pair.cert.trim()}\n${chain}`);
  await writeFile(key, pair.key, { mode: 0o600 });
  return { certificate, key };
}

async function readCa(o: { caCert: string; caKey: string }): Promise<{ ca: PemPair; chain: string }> {
  const [certText, key] = await Promise.all([readFile(o.caCert, 'utf8'), readFile(o.caKey, 'utf8')]);
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certText)?.[0];
  if (!first) throw new Error(`${o.caCert} holds no PEM certificate`);
  // an intermediate's file may carry its own chain: devices it issues send both
  return { ca: { cert: first, key }, chain: certText.trim() + '\n' };
}

/**
 * `iothub certificate …` (after `az iot hub certificate`): a hub's CA certificates with the
 * proof-of-possession flow, and helpers that make a dev root CA, intermediates, verification and
 * device certificates (ECDSA P-256) for trying X.509 devices.
 */
export function addCertificateCommands(program: Command, rest: () => HubRestClient, print: Print): void {
  const cert = program.command('certificate').description('CA certificates of the hub (X.509 CA-signed devices) and dev certificate helpers');
  const url = (name: string) => `/certificates/${encodeURIComponent(name)}`;
  const etag = (o: { etag?: string }): Record<string, string> => (o.etag ? { 'if-match': o.etag } : {});
  cert
    .command('create')
    .description('upload a CA certificate (Unverified unless --verified)')
    .requiredOption('-n, --name <name>')
    .requiredOption('-p, --path <file>', 'the CA certificate, PEM (never its key)')
    .option('-v, --verified', 'mark it verified without proof of possession', false)
    .action(async (o) => print(await rest().send('PUT', url(o.name), { properties: { certificate: await readFile(o.path, 'utf8'), isVerified: o.verified === true } })));
  cert.command('list').action(async () => print(await rest().send('GET', '/certificates')));
  cert.command('show').requiredOption('-n, --name <name>').action(async (o) => print(await rest().send('GET', url(o.name))));
  cert
    .command('delete')
    .requiredOption('-n, --name <name>')
    .option('-e, --etag <etag>')
    .action(async (o) => void (await rest().send('DELETE', url(o.name), undefined, etag(o))));
  cert
    .command('generate-verification-code')
    .requiredOption('-n, --name <name>')
    .option('-e, --etag <etag>')
    .action(async (o) => print(await rest().send('POST', `${url(o.name)}/generateVerificationCode`, {}, etag(o))));
  cert
    .command('verify')
    .description('proof of possession: a certificate signed by the CA with subject CN = the verification code')
    .requiredOption('-n, --name <name>')
    .requiredOption('-p, --path <file>', 'the verification certificate, PEM')
    .option('-e, --etag <etag>')
    .action(async (o) => print(await rest().send('POST', `${url(o.name)}/verify`, { certificate: await readFile(o.path, 'utf8') }, etag(o))));

  // ---- dev helpers (files only, nothing sent to the hub) ----
  cert
    .command('create-root-ca')
    .description('a self-signed root CA: ca.pem and ca-key.pem in --out-dir')
    .option('--cn <name>', 'subject common name', 'Open IoT Hub Test Root CA')
    .requiredOption('-o, --out-dir <dir>')
    .action(async (o) => print(await writePair(o.outDir, 'ca', await createDevCa(o.cn))));
  cert
    .command('create-intermediate-ca')
    .description('an intermediate CA issued by --ca-cert/--ca-key: {name}.pem (with the chain) and {name}-key.pem')
    .requiredOption('--cn <name>')
    .requiredOption('--ca-cert <file>')
    .requiredOption('--ca-key <file>')
    .requiredOption('-o, --out-dir <dir>')
    .action(async (o) => {
      const { ca, chain } = await readCa(o);
      print(await writePair(o.outDir, o.cn, await issueCertificate(ca, { commonName: o.cn, usage: 'ca' }), chain));
    });
  cert
    .command('create-verification-cert')
    .description('the proof-of-possession certificate: CN = the verification code, issued by the CA')
    .requiredOption('--code <verificationCode>')
    .requiredOption('--ca-cert <file>')
    .requiredOption('--ca-key <file>')
    .requiredOption('-o, --out-dir <dir>')
    .action(async (o) => {
      const { ca } = await readCa(o);
      print(await writePair(o.outDir, 'verification', await issueCertificate(ca, { commonName: o.code, usage: 'client' })));
    });
  cert
    .command('create-device-cert')
    .description('a device certificate, CN = the device id: issued by --ca-cert/--ca-key, or --self-signed; prints its thumbprints')
    .requiredOption('-d, --device-id <id>')
    .option('--ca-cert <file>')
    .option('--ca-key <file>')
    .option('--self-signed', 'self-signed (register the device with its thumbprint)', false)
    .requiredOption('-o, --out-dir <dir>')
    .action(async (o) => {
      let pair: PemPair;
      let chain = '';
      if (o.selfSigned) pair = await createSelfSignedClientCertificate(o.deviceId);
      else {
        if (!o.caCert || !o.caKey) throw new Error('pass --ca-cert and --ca-key, or --self-signed');
        const issuer = await readCa(o);
        chain = issuer.chain;
        pair = await issueCertificate(issuer.ca, { commonName: o.deviceId, usage: 'client' });
      }
      const files = await writePair(o.outDir, o.deviceId, pair, chain);
      print({ ...files, thumbprint: thumbprints(parseCertificate(pair.cert)!) });
    });
}
