import { createHmac } from 'node:crypto';
import { ProvisioningDeviceClient } from 'azure-iot-provisioning-device';
import { Mqtt as ProvMqtt, MqttWs as ProvMqttWs } from 'azure-iot-provisioning-device-mqtt';
import { Http as ProvHttp } from 'azure-iot-provisioning-device-http';
import { SymmetricKeySecurityClient } from 'azure-iot-security-symmetric-key';
import { ProvisioningServiceClient } from 'azure-iot-provisioning-service';
import { Client, Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { Registry } from 'azure-iothub';
import { createSasToken } from '@openiothub/auth';
import { hub } from './helpers.js';

export const PROVISIONING_TRANSPORTS = { Mqtt: ProvMqtt, MqttWs: ProvMqttWs, Http: ProvHttp } as const;
export type ProvisioningTransportName = keyof typeof PROVISIONING_TRANSPORTS;

/** The provisioning service SDK (enrollments, registration records) against the local hub's DPS. */
export function provisioningService(): ProvisioningServiceClient {
  return ProvisioningServiceClient.fromConnectionString(hub().dps.connectionString);
}

/**
 * A group device key, computed here independently of the service and the SDK (which does not
 * derive keys): base64(HMAC-SHA256(base64decode(groupKey), registrationId)).
 */
export function groupDeviceKey(groupKey: string, registrationId: string): string {
  return createHmac('sha256', Buffer.from(groupKey, 'base64')).update(registrationId).digest('base64');
}

/** What `register()` resolves: the registration state. */
export interface RegistrationResult {
  readonly registrationId: string;
  readonly assignedHub: string;
  readonly deviceId: string;
  readonly status: string;
  readonly substatus: string;
  readonly payload?: Record<string, unknown>;
}

/** Register with the real provisioning device SDK; optional custom payload (e.g. `{modelId}`). */
export async function registerDevice(transport: ProvisioningTransportName, registrationId: string, key: string, payload?: Record<string, unknown>, idScope = hub().dps.idScope): Promise<RegistrationResult> {
  const security = new SymmetricKeySecurityClient(registrationId, key);
  // the SDK packages pin different azure-iot-common patch versions: the same class twice in the types
  const client = ProvisioningDeviceClient.create(hub().dps.provisioningHost, idScope, new PROVISIONING_TRANSPORTS[transport](), security as unknown as Parameters<typeof ProvisioningDeviceClient.create>[3]);
  if (payload) client.setProvisioningPayload(payload);
  return (await client.register()) as unknown as RegistrationResult;
}

/** The error a registration fails with (the test asserts what the SDK surfaces). */
export async function registrationError(transport: ProvisioningTransportName, registrationId: string, key: string, idScope?: string): Promise<Error & { result?: { status?: string; registrationState?: { errorMessage?: string; status?: string } } }> {
  try {
    await registerDevice(transport, registrationId, key, undefined, idScope);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`registration of ${registrationId} succeeded, an error was expected`);
}

/** The hub name (tenant) behind an assignedHub host name. */
export function hubOf(assignedHub: string): string {
  const h = hub();
  if (assignedHub === h.hostName) return h.hub;
  if (assignedHub === h.secondHub.hostName) return h.secondHub.hub;
  throw new Error(`assignedHub ${assignedHub} is neither of the local hubs`);
}

/** The service connection string of the hub behind an assignedHub host name. */
export function ownerOf(assignedHub: string): string {
  return hubOf(assignedHub) === hub().hub ? hub().ownerConnectionString : hub().secondHub.ownerConnectionString;
}

/** The connection string an app builds from a registration result and its key (R-DPS-3). */
export function connectionStringOf(r: RegistrationResult, key: string): string {
  return `HostName=${r.assignedHub};DeviceId=${r.deviceId};SharedAccessKey=${key}`;
}

/** Connect with the cached connection string and send one message; resolves when the hub acknowledged it. */
export async function sendOne(connectionString: string, body: string, transport: Parameters<typeof Client.fromConnectionString>[1] = Mqtt): Promise<void> {
  const client = Client.fromConnectionString(connectionString, transport);
  try {
    await client.open();
    await client.sendEvent(new Message(body));
  } finally {
    await client.close();
  }
}

/** The twin of a device in the hub an assignedHub names. */
export async function twinIn(assignedHub: string, deviceId: string): Promise<Record<string, unknown>> {
  const { responseBody } = await Registry.fromConnectionString(ownerOf(assignedHub)).getTwin(deviceId);
  return responseBody as unknown as Record<string, unknown>;
}

/** A device SAS token for the DPS device API (raw-protocol tests). */
export function registrationToken(registrationId: string, key: string, idScope = hub().dps.idScope, ttlSeconds = 3600): string {
  return createSasToken({ resourceUri: `${idScope}/registrations/${registrationId}`, key, keyName: 'registration', expiry: Math.floor(Date.now() / 1000) + ttlSeconds, encode: false });
}
