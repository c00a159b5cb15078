import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import {
  computeSignature,
  createSasToken,
  encodeUriComponentStrict,
  isSasExpired,
  parseSasToken,
  verifySasSignature,
  verifySasWithAnyKey,
} from './sas.js';
import { UnauthorizedError } from '@openiothub/errors';

// The Azure SDK's own token builder, to prove we verify what it signs (quirks included).
const require = createRequire(import.meta.url);
const { SharedAccessSignature } = require('azure-iot-common') as {
  SharedAccessSignature: { create(resourceUri: string, keyName: string, key: string, expiry: number): { toString(): string } };
};

// spec/seeds-devguide.md §10.4 test vectors: key = ASCII "0123456789abcdef0123456789abcdef", se = 1456971697
const KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const SE = 1456971697;

describe('signature test vectors', () => {
  it.each([
    ['myhub.azure-devices.net%2Fdevices%2Fdevice1', 'mCMoB8EpzPd2tOlYijEhPmnCKFuwbkzE7tH8oG6X0Qc='],
    ['myhub.azure-devices.net%2fdevices%2fdevice1', 'zvuWgn6GdyUQxk+Y5aklbjGHPeA/LjhvA84S/8VZ3pw='],
    ['myhub.azure-devices.net%2Fdevices', '4Ystz9NjxJ4asHqlCBMU72anw+iD6ZiuxXLMsK2xhvM='],
  ])('HMAC over %s', (sr, sig) => {
    expect(computeSignature(KEY, sr, SE)).toBe(sig);
  });

  it('accepts both %2F and %2f encodings of the same resource', () => {
    for (const [sr, sig] of [
      ['myhub.azure-devices.net%2Fdevices%2Fdevice1', 'mCMoB8EpzPd2tOlYijEhPmnCKFuwbkzE7tH8oG6X0Qc='],
      ['myhub.azure-devices.net%2fdevices%2fdevice1', 'zvuWgn6GdyUQxk+Y5aklbjGHPeA/LjhvA84S/8VZ3pw='],
    ] as const) {
      const token = parseSasToken(`SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${SE}`);
      expect(verifySasSignature(token, KEY)).toBe(true);
    }
  });

  it('accepts a lower-case-signed token sent with upper-case encoding', () => {
    const lowerSig = 'zvuWgn6GdyUQxk+Y5aklbjGHPeA/LjhvA84S/8VZ3pw=';
    const token = parseSasToken(`SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdevice1&sig=${encodeURIComponent(lowerSig)}&se=${SE}`);
    expect(verifySasSignature(token, KEY)).toBe(true);
  });
});

describe('tokens from the Azure SDK', () => {
  const key = Buffer.alloc(32, 7).toString('base64');

  it.each([
    ['device', 'localhost/devices/dev1', undefined],
    ['device with SDK strict-encoded chars', "localhost/devices/d*e(v)!'1", undefined],
    ['device with port in host', 'localhost:8883/devices/dev1', undefined],
    ['module', 'localhost/devices/dev1/modules/mod1', undefined],
    ['policy used for a device', 'localhost/devices/dev1', 'device'],
  ])('verifies a %s token', (_label, resource, keyName) => {
    const sr = encodeUriComponentStrict(resource);
    const str = SharedAccessSignature.create(sr, keyName as unknown as string, key, SE + 10_000_000).toString();
    const token = parseSasToken(str);
    expect(token.sr).toBe(sr);
    expect(token.resourceUri).toBe(resource);
    expect(token.skn).toBe(keyName);
    expect(verifySasSignature(token, key)).toBe(true);
    expect(verifySasSignature(token, Buffer.alloc(32, 8).toString('base64'))).toBe(false);
  });

  it('verifies a service token whose sr is the raw host name', () => {
    const str = SharedAccessSignature.create('localhost', 'iothubowner', key, SE).toString();
    expect(str).toContain('sr=localhost&');
    expect(verifySasSignature(parseSasToken(str), key)).toBe(true);
  });

  it('produces the same token as the SDK', () => {
    const sdk = SharedAccessSignature.create(encodeUriComponentStrict('hub.example/devices/a(b)'), 'device', key, SE).toString();
    expect(createSasToken({ resourceUri: 'hub.example/devices/a(b)', key, keyName: 'device', expiry: SE })).toBe(sdk);
  });

  it('verifies a DPS token whose sr keeps raw slashes', () => {
    const str = createSasToken({ resourceUri: '0ne00ABCDEF/registrations/reg-1', key, keyName: 'registration', expiry: SE, encode: false });
    expect(str).toContain('sr=0ne00ABCDEF/registrations/reg-1&');
    expect(verifySasSignature(parseSasToken(str), key)).toBe(true);
  });
});

describe('parseSasToken', () => {
  it('accepts fields in any order', () => {
    const t = parseSasToken('SharedAccessSignature skn=service&se=12&sig=abc%3D&sr=hub%2Fdevices');
    expect(t).toMatchObject({ sr: 'hub%2Fdevices', resourceUri: 'hub/devices', sig: 'abc=', se: 12, skn: 'service' });
  });

  it.each([
    ['', 'empty'],
    ['Bearer abc', 'wrong scheme'],
    ['SharedAccessSignature sr=a&sig=b', 'no se'],
    ['SharedAccessSignature sr=a&se=1', 'no sig'],
    ['SharedAccessSignature sig=a&se=1', 'no sr'],
    ['SharedAccessSignature sr=a&sig=b&se=soon', 'non-numeric se'],
    ['SharedAccessSignature sr=a&sig=b&se=1&sr=c', 'duplicate field'],
    ['SharedAccessSignature sr=%E0%A4%A&sig=b&se=1', 'broken percent-encoding'],
    ['SharedAccessSignature sr=a&sig=b&se=1&novalue', 'field without ='],
  ])('rejects %j (%s) with 401', (token) => {
    expect(() => parseSasToken(token)).toThrow(UnauthorizedError);
  });

  it('rejects a signature that is not 32 bytes', () => {
    const t = parseSasToken(`SharedAccessSignature sr=a&sig=${encodeURIComponent(Buffer.alloc(20).toString('base64'))}&se=1`);
    expect(verifySasSignature(t, KEY)).toBe(false);
  });
});

describe('verifySasWithAnyKey', () => {
  it('accepts a token signed with either key and ignores empty keys', () => {
    const k1 = Buffer.alloc(32, 1).toString('base64');
    const k2 = Buffer.alloc(32, 2).toString('base64');
    const token = parseSasToken(createSasToken({ resourceUri: 'h/devices/d', key: k2, expiry: SE }));
    expect(verifySasWithAnyKey(token, [k1, k2])).toBe(true);
    expect(verifySasWithAnyKey(token, [k1, undefined, ''])).toBe(false);
    expect(verifySasWithAnyKey(token, [])).toBe(false);
  });
});

describe('remembered verifications', () => {
  it('a token verified once still fails against another key (a regenerated one), and a forged copy never passes', () => {
    const oldKey = Buffer.alloc(32, 7).toString('base64');
    const newKey = Buffer.alloc(32, 8).toString('base64');
    const raw = createSasToken({ resourceUri: 'h/devices/remembered', key: oldKey, expiry: SE });
    for (let i = 0; i < 3; i++) expect(verifySasSignature(parseSasToken(raw), oldKey)).toBe(true);
    expect(verifySasSignature(parseSasToken(raw), newKey)).toBe(false);
    // same resource and expiry, another signature
    const forged = raw.replace(/sig=[^&]+/, `sig=${encodeURIComponent(Buffer.alloc(32, 9).toString('base64'))}`);
    expect(verifySasSignature(parseSasToken(forged), oldKey)).toBe(false);
    // another expiry with the old signature
    expect(verifySasSignature(parseSasToken(raw.replace(`se=${SE}`, `se=${SE + 1}`)), oldKey)).toBe(false);
    // parsing a remembered token gives the same fields; a malformed one still throws every time
    expect(parseSasToken(raw)).toEqual(parseSasToken(raw));
    for (let i = 0; i < 2; i++) expect(() => parseSasToken('SharedAccessSignature sr=a&se=1')).toThrow(UnauthorizedError);
  });
});

describe('isSasExpired', () => {
  it('treats se at or before now as expired', () => {
    const t = parseSasToken('SharedAccessSignature sr=a&sig=b&se=100');
    expect(isSasExpired(t, 99_999)).toBe(false);
    expect(isSasExpired(t, 100_000)).toBe(true);
  });
});

describe('Event Hubs SAS tokens', () => {
  it('accept the UTF-8-key signature only when asked for Event Hubs', async () => {
    const { createHmac } = await import('node:crypto');
    const key = Buffer.alloc(32, 9).toString('base64');
    const sr = encodeURIComponent('sb://localhost/hub1/$management');
    const se = Math.floor(Date.now() / 1000) + 600;
    const sig = createHmac('sha256', key).update(`${sr}\n${se}`).digest('base64');
    const token = parseSasToken(`SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=service`);
    expect(verifySasWithAnyKey(token, [key])).toBe(false);
    expect(verifySasWithAnyKey(token, [key], { eventHubs: true })).toBe(true);
    expect(verifySasWithAnyKey(token, [Buffer.alloc(32, 8).toString('base64')], { eventHubs: true })).toBe(false);
  });
});
