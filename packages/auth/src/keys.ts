import { randomBytes } from 'node:crypto';

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
