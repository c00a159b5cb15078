import { createHmac, randomBytes } from 'node:crypto';

/** A new 256-bit symmetric key, base64, as IoT Hub generates for devices and policies. */
export function generateSymmetricKey(): string {
  return randomBytes(32).toString('base64');
}

/** True for a base64 key that decodes to 16–64 bytes (IoT Hub's accepted key lengths). */
export function isValidSymmetricKey(key: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || key.length % 4 !== 0) return false;
  const len = Buffer.from(key, 'base64').length;
  return len >= 16 && len <= 64;
}

/**
 * The key of one device in a symmetric-key enrollment group:
 * base64(HMAC-SHA256(key = base64decode(groupKey), data = utf8(registrationId))) (sdk-compat §9).
 */
export function deriveDeviceKey(groupKeyBase64: string, registrationId: string): string {
  return createHmac('sha256', Buffer.from(groupKeyBase64, 'base64')).update(registrationId, 'utf8').digest('base64');
}
