import { describe, expect, it } from 'vitest';
import { signStreamToken, verifyStreamToken } from './tokens.js';

const secret = 'a-secret-of-enough-length';
const claims = { iothub: 'hub', dev: 'd1', sid: '0'.repeat(32), side: 'device' as const, exp: Math.floor(Date.now() / 1000) + 60 };

describe('stream tokens', () => {
  it('verify with the secret that signed them, until they expire, each with its own jti', () => {
    const a = signStreamToken(secret, claims);
    const b = signStreamToken(secret, claims);
    expect(verifyStreamToken(secret, a)).toMatchObject(claims);
    expect(verifyStreamToken(secret, a)!.jti).not.toBe(verifyStreamToken(secret, b)!.jti);
    expect(verifyStreamToken('another-secret-entirely', a)).toBeUndefined();
    expect(verifyStreamToken(secret, a, (claims.exp + 1) * 1000)).toBeUndefined();
  });

  it('refuse tampered claims and malformed tokens', () => {
    const [h, p, s] = signStreamToken(secret, claims).split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), side: 'service' })).toString('base64url');
    expect(verifyStreamToken(secret, `${h}.${forged}.${s}`)).toBeUndefined();
    for (const bad of ['', 'a.b', 'a.b.c', `${h}.${p}.`, `x${h}.${p}.${s}`]) expect(verifyStreamToken(secret, bad)).toBeUndefined();
  });
});
