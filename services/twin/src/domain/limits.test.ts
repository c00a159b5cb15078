import { describe, expect, it } from 'vitest';
import { ArgumentInvalidError } from '@openiothub/errors';
import { assertSectionSize, sectionSize, validateSection } from './limits.js';

const ok = (v: unknown, section: 'tags' | 'desired' | 'reported' = 'desired', allowNull = true) => () => validateSection(v, section, { allowNull });

describe('twin limits (devguide §11.4-11.5)', () => {
  it('accepts the documented depth-5 example, not depth 6', () => {
    expect(ok({ one: { two: { three: { four: { five: { property: 'value' } } } } } }, 'tags')).not.toThrow();
    expect(ok({ one: { two: { three: { four: { five: { six: { p: 1 } } } } } } }, 'tags')).toThrow(ArgumentInvalidError);
  });

  it.each([
    [{ 'a.b': 1 }, 'dot in key'],
    [{ $a: 1 }, 'dollar in key'],
    [{ 'a b': 1 }, 'space in key'],
    [{ 'a\u0001': 1 }, 'control char in key'],
    [{ ['k'.repeat(65)]: 1 }, '65-byte key'],
    [{ s: 'x'.repeat(513) }, '513-byte string'],
    [{ n: 4503599627370496 }, 'integer above 2^52-1'],
    [{ n: -4503599627370497 }, 'integer below -2^52'],
    [{ nested: { 'x.y': true } }, 'bad nested key'],
    [[1, 2], 'array as section'],
    ['text', 'string as section'],
  ] as Array<[unknown, string]>)('rejects %j (%s)', (v) => {
    expect(ok(v)).toThrow(ArgumentInvalidError);
  });

  it('accepts the edges of each limit', () => {
    expect(ok({ ['k'.repeat(64)]: 's'.repeat(512), n: 4503599627370495, m: -4503599627370496, f: 1.5, b: false })).not.toThrow();
    expect(ok({ ['é'.repeat(32)]: 1 })).not.toThrow(); // 64 bytes
    expect(ok({ ['é'.repeat(33)]: 1 })).toThrow(ArgumentInvalidError);
  });

  it('refuses arrays in tags only, and nulls outside patches', () => {
    expect(ok({ a: [1, 2] }, 'tags')).toThrow(ArgumentInvalidError);
    expect(ok({ a: [1, { b: 'c' }] }, 'reported')).not.toThrow();
    expect(ok({ a: null }, 'desired', false)).toThrow(ArgumentInvalidError);
    expect(ok({ a: null }, 'desired', true)).not.toThrow();
  });

  it('ignores read-only members and measures sections without them', () => {
    expect(ok({ $version: 3, $metadata: { x: 1 }, a: 1 })).not.toThrow();
    expect(sectionSize({ a: 1, $version: 9 })).toBe(sectionSize({ a: 1 }));
    expect(() => assertSectionSize({ big: 'x'.repeat(500), ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'y'.repeat(500)])) }, 'desired')).toThrow(ArgumentInvalidError);
    expect(() => assertSectionSize({ k: 'y'.repeat(500) }, 'desired')).not.toThrow();
  });

  it("validates IoT Hub distributed tracing's sampling setting (protocols-ops checklist 147-148)", () => {
    const key = 'azureiot*com^dtracing^1';
    expect(() => validateSection({ [key]: { sampling_mode: 1, sampling_rate: 100 } }, 'desired', { allowNull: true })).not.toThrow();
    expect(() => validateSection({ [key]: { sampling_mode: 2, sampling_rate: 0 } }, 'reported', { allowNull: true })).not.toThrow();
    expect(() => validateSection({ [key]: null }, 'desired', { allowNull: true })).not.toThrow();
    expect(() => validateSection({ [key]: { sampling_mode: 1, sampling_rate: 150 } }, 'desired', { allowNull: true })).toThrow(/sampling_rate must be an integer from 0 to 100/);
    expect(() => validateSection({ [key]: { sampling_mode: 3, sampling_rate: 10 } }, 'desired', { allowNull: true })).toThrow(/sampling_mode must be 1 \(on\) or 2 \(off\)/);
    expect(() => validateSection({ [key]: { sampling_rate: 10 } }, 'desired', { allowNull: true })).toThrow(ArgumentInvalidError);
    expect(() => validateSection({ [key]: 'on' }, 'desired', { allowNull: true })).toThrow(ArgumentInvalidError);
  });
});
