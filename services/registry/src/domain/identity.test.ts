import { describe, expect, it } from 'vitest';
import { ArgumentInvalidError } from '@openiothub/errors';
import { assertIdentityId, etagOf, newGenerationId, normalizeAuthentication, normalizeStatus, normalizeStatusReason, parseIfMatch } from './identity.js';

describe('identity ids (devguide checklist 152-154)', () => {
  it('accepts 128 characters and every allowed special character', () => {
    expect(() => assertIdentityId('a'.repeat(128), 'deviceId')).not.toThrow();
    expect(() => assertIdentityId("x-.+%_#*?!(),=@$'", 'deviceId')).not.toThrow();
  });

  it.each(['a'.repeat(129), 'has/slash', 'has space', '', 'ü', 'semi;colon', 'x\n'])('rejects %j', (id) => {
    expect(() => assertIdentityId(id, 'deviceId')).toThrow(ArgumentInvalidError);
  });
});

describe('etags', () => {
  it('encodes versions and parses If-Match forms', () => {
    expect(etagOf(17)).toBe('MTc=');
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch('"*"')).toBe('*');
    expect(parseIfMatch('*')).toBe('*');
    expect(parseIfMatch('"MTc="')).toBe(17);
    expect(parseIfMatch('W/"MTc="')).toBe(17);
    expect(parseIfMatch('"garbage"')).toBe(-1);
  });

  it('gives re-created devices a different generationId', () => {
    const a = newGenerationId();
    const b = newGenerationId();
    expect(a).toMatch(/^\d{18}$/);
    expect(a).not.toBe(b);
  });
});

describe('status (checklist 160, 162)', () => {
  it('accepts enabled/disabled in any case and rejects others', () => {
    expect(normalizeStatus('Disabled', 'enabled')).toBe('disabled');
    expect(normalizeStatus(undefined, 'enabled')).toBe('enabled');
    expect(() => normalizeStatus('paused', 'enabled')).toThrow(ArgumentInvalidError);
  });

  it('allows 128 UTF-8 characters of statusReason, not 129', () => {
    expect(normalizeStatusReason('é'.repeat(128), '')).toHaveLength(128);
    expect(() => normalizeStatusReason('é'.repeat(129), '')).toThrow(ArgumentInvalidError);
  });
});

describe('authentication', () => {
  it('generates SAS keys when absent and keeps given ones', () => {
    const gen = normalizeAuthentication(undefined);
    expect(gen.type).toBe('sas');
    expect(Buffer.from(gen.primaryKey, 'base64')).toHaveLength(32);
    expect(gen.primaryKey).not.toBe(gen.secondaryKey);
    const key = Buffer.alloc(32, 1).toString('base64');
    expect(normalizeAuthentication({ type: 'sas', primaryKey: key, secondaryKey: key }).primaryKey).toBe(key);
  });

  it('keeps existing keys when an update sends empty ones', () => {
    const existing = normalizeAuthentication(undefined);
    expect(normalizeAuthentication({ type: 'sas', primaryKey: '', secondaryKey: '' }, existing)).toEqual(existing);
  });

  it('rejects bad keys, types and thumbprints', () => {
    expect(() => normalizeAuthentication({ type: 'sas', primaryKey: 'short' })).toThrow(ArgumentInvalidError);
    expect(() => normalizeAuthentication({ type: 'password' as never })).toThrow(ArgumentInvalidError);
    expect(() => normalizeAuthentication({ type: 'selfSigned' })).toThrow(ArgumentInvalidError);
    expect(() => normalizeAuthentication({ type: 'selfSigned', primaryThumbprint: 'xyz' })).toThrow(ArgumentInvalidError);
    expect(normalizeAuthentication({ type: 'selfSigned', primaryThumbprint: 'ab'.repeat(32) }).primaryThumbprint).toBe('AB'.repeat(32));
  });
});
