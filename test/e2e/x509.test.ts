import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Message } from 'azure-iot-device';
import { Amqp } from 'azure-iot-device-amqp';
import { Http } from 'azure-iot-device-http';
import { Mqtt } from 'azure-iot-device-mqtt';
import { Registry } from 'azure-iothub';
import provisioning from 'azure-iot-provisioning-device';
import { X509Security } from 'azure-iot-security-x509';
import { uniqueName } from '@openiothub/testing';
import { collectTelemetry } from './devices.js';
import { ownerOf, PROVISIONING_TRANSPORTS, provisioningService, type ProvisioningTransportName, type RegistrationResult } from './dps.js';
import { hub, hubFetch, iothub, ownerConnectionString } from './helpers.js';

// X.509 devices (protocols-ops §3): self-signed by thumbprint and CA-signed through a verified CA,
// with the real device SDK over MQTT, HTTPS and AMQP; the CA proof-of-possession flow through the
// REST API and the CLI. Certificates are made with the CLI's own helpers (files in a temp dir).

const TRANSPORTS = { Mqtt, Http, Amqp } as const;
type TransportName = keyof typeof TRANSPORTS;
const dir = mkdtempSync(join(tmpdir(), 'oih-x509-'));

let telemetry: Awaited<ReturnType<typeof collectTelemetry>>;
beforeAll(async () => {
  telemetry = await collectTelemetry();
});
afterAll(async () => {
  await telemetry.stop();
});

async function cli(...argv: string[]): Promise<Record<string, unknown>> {
  const r = await iothub(...argv);
  if (r.code !== 0) throw new Error(`iothub ${argv.join(' ')}: ${r.err}`);
  return r.out.trim() ? (r.json() as Record<string, unknown>) : {};
}

/** Files of a device certificate made by the CLI. */
async function deviceCert(deviceId: string, issuer: { certificate: string; key: string } | 'self'): Promise<{ cert: string; key: string; thumbprint: { sha1: string; sha256: string } }> {
  const args = issuer === 'self' ? ['--self-signed'] : ['--ca-cert', issuer.certificate, '--ca-key', issuer.key];
  const out = (await cli('certificate', 'create-device-cert', '-d', deviceId, ...args, '-o', dir)) as { certificate: string; key: string; thumbprint: { sha1: string; sha256: string } };
  return { cert: readFileSync(out.certificate, 'utf8'), key: readFileSync(out.key, 'utf8'), thumbprint: out.thumbprint };
}

/** Open an X.509 device client (`x509=true` connection string + cert/key options) and send one message. */
async function sendWithCertificate(transport: TransportName, deviceId: string, pem: { cert: string; key: string }, host = hub().hostName): Promise<void> {
  const client = Client.fromConnectionString(`HostName=${host};DeviceId=${deviceId};x509=true`, TRANSPORTS[transport]);
  // the Http transport's setOptions only calls back when a receive policy is among the options (sdk-compat §2)
  await client.setOptions({ cert: pem.cert, key: pem.key, ...(transport === 'Http' ? { http: { receivePolicy: { interval: 1 } } } : {}) } as never);
  try {
    await client.open();
    await client.sendEvent(new Message(`x509 ${transport} ${deviceId}`));
  } finally {
    await client.close();
  }
}

describe.each(['Mqtt', 'Http', 'Amqp'] as TransportName[])('X.509 devices over %s (azure-iot-device)', (transport) => {
  it('a self-signed device connects with the certificate whose thumbprint is registered (SHA-1 primary or SHA-256 secondary)', async () => {
    const registry = Registry.fromConnectionString(ownerConnectionString());
    for (const which of ['primary', 'secondary'] as const) {
      const deviceId = uniqueName('x509ss');
      const pem = await deviceCert(deviceId, 'self');
      const x509Thumbprint = which === 'primary' ? { primaryThumbprint: pem.thumbprint.sha1 } : { primaryThumbprint: 'AB'.repeat(20), secondaryThumbprint: pem.thumbprint.sha256 };
      await registry.create({ deviceId, authentication: { type: 'selfSigned', x509Thumbprint } } as never);
      await sendWithCertificate(transport, deviceId, pem);
      const got = await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === deviceId);
      expect(Buffer.from(got.body).toString()).toBe(`x509 ${transport} ${deviceId}`);
    }
  });

  it('refuses a certificate whose thumbprint is not registered, and a SAS device presenting a certificate', async () => {
    const registry = Registry.fromConnectionString(ownerConnectionString());
    const deviceId = uniqueName('x509bad');
    await registry.create({ deviceId, authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'CD'.repeat(32) } } } as never);
    await expect(sendWithCertificate(transport, deviceId, await deviceCert(deviceId, 'self'))).rejects.toThrow();
    const sasDevice = uniqueName('sasdev');
    await registry.create({ deviceId: sasDevice });
    await expect(sendWithCertificate(transport, sasDevice, await deviceCert(sasDevice, 'self'))).rejects.toThrow();
  });
});

describe('CA-signed devices and proof of possession', () => {
  it('REST + CLI: upload (Unverified), verification code, verify; then root → intermediate → device chains connect over every transport', async () => {
    const root = (await cli('certificate', 'create-root-ca', '--cn', uniqueName('Root'), '-o', join(dir, 'root'))) as { certificate: string; key: string };
    const mid = (await cli('certificate', 'create-intermediate-ca', '--cn', uniqueName('Factory'), '--ca-cert', root.certificate, '--ca-key', root.key, '-o', join(dir, 'mid'))) as { certificate: string; key: string };
    const name = uniqueName('fleet');
    const deviceId = uniqueName('x509ca');
    const registry = Registry.fromConnectionString(ownerConnectionString());
    await registry.create({ deviceId, authentication: { type: 'certificateAuthority' } } as never);
    const pem = await deviceCert(deviceId, mid);

    // the REST API: uploaded CAs are Unverified; a private key is refused
    const upload = await hubFetch(`/certificates/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ properties: { certificate: readFileSync(root.certificate, 'utf8') } }) });
    expect(upload.status).toBe(200);
    expect(((await upload.json()) as { properties: { isVerified: boolean } }).properties.isVerified).toBe(false);
    const withKey = await hubFetch(`/certificates/${name}-k`, { method: 'PUT', body: JSON.stringify({ properties: { certificate: readFileSync(root.certificate, 'utf8') + readFileSync(root.key, 'utf8') } }) });
    expect(withKey.status).toBe(400);
    // an Unverified CA does not let the device in
    await expect(sendWithCertificate('Mqtt', deviceId, pem)).rejects.toThrow();

    // the CLI: code, verification certificate, verify
    const code = ((await cli('certificate', 'generate-verification-code', '-n', name)) as { properties: { verificationCode: string } }).properties.verificationCode;
    const wrong = (await cli('certificate', 'create-verification-cert', '--code', 'not-the-code', '--ca-cert', root.certificate, '--ca-key', root.key, '-o', join(dir, 'wrong'))) as { certificate: string };
    expect((await iothub('certificate', 'verify', '-n', name, '-p', wrong.certificate)).code).toBe(1);
    const proof = (await cli('certificate', 'create-verification-cert', '--code', code, '--ca-cert', root.certificate, '--ca-key', root.key, '-o', join(dir, 'proof'))) as { certificate: string };
    expect(((await cli('certificate', 'verify', '-n', name, '-p', proof.certificate)) as { properties: { isVerified: boolean } }).properties.isVerified).toBe(true);
    expect(((await cli('certificate', 'list')) as { value: Array<{ name: string }> }).value.map((c) => c.name)).toContain(name);

    for (const transport of ['Mqtt', 'Http', 'Amqp'] as TransportName[]) await sendWithCertificate(transport, deviceId, pem);
    await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === deviceId && Buffer.from(m.body).toString() === `x509 Amqp ${deviceId}`);

    // the chain must be complete and the CN must be the device id; an unregistered device stays out
    await expect(sendWithCertificate('Mqtt', deviceId, { cert: pem.cert.split(/(?<=-----END CERTIFICATE-----)/)[0]!, key: pem.key })).rejects.toThrow();
    const other = uniqueName('x509ca');
    await registry.create({ deviceId: other, authentication: { type: 'certificateAuthority' } } as never);
    await expect(sendWithCertificate('Mqtt', other, pem)).rejects.toThrow();
    const ghost = uniqueName('ghost');
    await expect(sendWithCertificate('Mqtt', ghost, await deviceCert(ghost, mid))).rejects.toThrow();

    // deleting the CA closes the door again
    expect((await iothub('certificate', 'delete', '-n', name)).code).toBe(0);
    await expect(sendWithCertificate('Http', deviceId, pem)).rejects.toThrow();
  });
});

describe('DPS with X.509 attestation (azure-iot-security-x509)', () => {
  async function registerX509(transport: ProvisioningTransportName, registrationId: string, pem: { cert: string; key: string }): Promise<RegistrationResult> {
    const security = new X509Security(registrationId, { cert: pem.cert, key: pem.key });
    const client = provisioning.ProvisioningDeviceClient.create(hub().dps.provisioningHost, hub().dps.idScope, new PROVISIONING_TRANSPORTS[transport](), security as never);
    return (await client.register()) as unknown as RegistrationResult;
  }

  it('an individual enrollment with the device certificate: registered by thumbprint, then the device connects with it', async () => {
    const registrationId = uniqueName('x509reg');
    const pem = await deviceCert(registrationId, 'self');
    const service = provisioningService();
    const { responseBody } = await service.createOrUpdateIndividualEnrollment({ registrationId, attestation: { type: 'x509', x509: { clientCertificates: { primary: { certificate: pem.cert } } } } } as never);
    // DPS shows certificate info, never the certificate itself
    const shown = (responseBody as unknown as { attestation: { x509: { clientCertificates: { primary: Record<string, unknown> } } } }).attestation.x509.clientCertificates.primary;
    expect(shown['certificate']).toBeUndefined();
    expect(shown['info']).toMatchObject({ sha256Thumbprint: pem.thumbprint.sha256 });
    for (const transport of ['Mqtt', 'Http'] as ProvisioningTransportName[]) {
      const r = await registerX509(transport, registrationId, pem);
      expect(r).toMatchObject({ registrationId, deviceId: registrationId, status: 'assigned' });
      const { responseBody: device } = await Registry.fromConnectionString(ownerOf(r.assignedHub)).get(registrationId);
      expect(device.authentication).toMatchObject({ type: 'selfSigned', x509Thumbprint: { primaryThumbprint: pem.thumbprint.sha256 } });
      await sendWithCertificate('Mqtt', registrationId, pem, r.assignedHub);
    }
    // another certificate with the same CN is not this enrollment's
    const impostor = await deviceCert(registrationId, 'self');
    await expect(registerX509('Http', registrationId, impostor)).rejects.toMatchObject({ name: 'UnauthorizedError' });
  });

  it('an enrollment group with a signing (intermediate) certificate: any device certificate it issued registers, CN = registration id', async () => {
    const root = (await cli('certificate', 'create-root-ca', '--cn', uniqueName('DpsRoot'), '-o', join(dir, 'dpsroot'))) as { certificate: string; key: string };
    const mid = (await cli('certificate', 'create-intermediate-ca', '--cn', uniqueName('DpsMid'), '--ca-cert', root.certificate, '--ca-key', root.key, '-o', join(dir, 'dpsmid'))) as { certificate: string; key: string };
    const midPem = readFileSync(mid.certificate, 'utf8').split(/(?<=-----END CERTIFICATE-----)/)[0]!;
    const enrollmentGroupId = uniqueName('x509grp');
    await provisioningService().createOrUpdateEnrollmentGroup({ enrollmentGroupId, attestation: { type: 'x509', x509: { signingCertificates: { primary: { certificate: midPem } } } } } as never);
    const registrationId = uniqueName('x509member');
    const pem = await deviceCert(registrationId, mid);
    const r = await registerX509('Mqtt', registrationId, pem);
    expect(r).toMatchObject({ deviceId: registrationId, status: 'assigned' });
    await sendWithCertificate('Amqp', registrationId, pem, r.assignedHub);
    // a certificate from another CA is not a member
    const outsiderCa = (await cli('certificate', 'create-root-ca', '--cn', uniqueName('Outsider'), '-o', join(dir, 'outsider'))) as { certificate: string; key: string };
    const outsider = uniqueName('x509out');
    await expect(registerX509('Mqtt', outsider, await deviceCert(outsider, outsiderCa))).rejects.toThrow(/Not authorized/i);
  });
});
