import { describe, expect, it } from 'vitest';
import { deriveDeviceKey, generateSymmetricKey, isValidSymmetricKey } from './keys.js';

describe('deriveDeviceKey', () => {
  it('is base64(HMAC-SHA256(base64decode(groupKey), registrationId)), as computed by openssl', () => {
    // printf sensor-001 | openssl dgst -sha256 -mac HMAC -macopt hexkey:<hex of the group key bytes> -binary | base64
    expect(deriveDeviceKey('Z3JvdXAta2V5LWZvci10ZXN0cy0wMTIzNDU2Nzg5YWJjZGVm', 'sensor-001')).toBe('FHzzjn+XKeKEy4ltYLCyBA3wEQ5yBznB2iufAhpGfMM=');
  });

  it('gives every registration id its own valid key', () => {
    const group = generateSymmetricKey();
    const a = deriveDeviceKey(group, 'a');
    expect(a).not.toBe(deriveDeviceKey(group, 'b'));
    expect(isValidSymmetricKey(a)).toBe(true);
  });
});
