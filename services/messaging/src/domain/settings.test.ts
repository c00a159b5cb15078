import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, formatIsoDuration, parseIsoDuration, settingsFromJson } from './settings.js';

describe('ISO 8601 durations', () => {
  it.each([
    ['PT1H', 3600_000],
    ['P2D', 172_800_000],
    ['PT1M', 60_000],
    ['PT1H30M', 5_400_000],
    ['PT0.5S', 500],
    ['P1DT2H', 93_600_000],
  ])('parses %s', (text, ms) => {
    expect(parseIsoDuration(text, 'x')).toBe(ms);
  });

  it.each(['', 'P', 'PT', '1H', 'PT1X', 'P1W', 'pt1h'])('refuses %j', (text) => {
    expect(() => parseIsoDuration(text, 'x')).toThrow(/ISO 8601/);
  });

  it('formats the way it parses', () => {
    for (const ms of [60_000, 3600_000, 5_400_000, 172_800_000, 93_600_000, 45_000]) expect(parseIsoDuration(formatIsoDuration(ms), 'x')).toBe(ms);
    expect(formatIsoDuration(3600_000)).toBe('PT1H');
    expect(formatIsoDuration(172_800_000)).toBe('P2D');
  });
});

describe('cloudToDevice settings', () => {
  it('applies a partial update over the current values', () => {
    expect(settingsFromJson({ feedback: { ttlAsIso8601: 'PT2H' } }, DEFAULT_SETTINGS)).toEqual({ ...DEFAULT_SETTINGS, feedbackTtlMs: 7200_000 });
  });
  it('refuses wrong types', () => {
    expect(() => settingsFromJson({ maxDeliveryCount: '5' }, DEFAULT_SETTINGS)).toThrow(/number/);
    expect(() => settingsFromJson([], DEFAULT_SETTINGS)).toThrow(/object/);
    expect(() => settingsFromJson({ feedback: { lockDurationAsIso8601: 'PT1S' } }, DEFAULT_SETTINGS)).toThrow(/PT5S/);
  });
});
