import { ArgumentInvalidError } from '@openiothub/errors';

/** A hub's C2D settings (devguide §7.5), durations in milliseconds. */
export interface C2DSettings {
  readonly defaultTtlMs: number;
  readonly maxDeliveryCount: number;
  readonly feedbackTtlMs: number;
  readonly feedbackMaxDeliveryCount: number;
  readonly feedbackLockMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** IoT Hub's defaults: TTL 1 h, 10 deliveries; feedback kept 1 h, 100 deliveries, locked 1 min. */
export const DEFAULT_SETTINGS: C2DSettings = {
  defaultTtlMs: HOUR,
  maxDeliveryCount: 10,
  feedbackTtlMs: HOUR,
  feedbackMaxDeliveryCount: 100,
  feedbackLockMs: MINUTE,
};

/** Ranges: TTLs PT1M..P2D, delivery counts 1..100; the feedback lock 5 s..5 min (ARM's lockDurationAsIso8601). */
export function validateSettings(s: C2DSettings): C2DSettings {
  const ttl = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < MINUTE || v > 2 * DAY) throw new ArgumentInvalidError(`${name} must be between PT1M and P2D.`);
  };
  const count = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1 || v > 100) throw new ArgumentInvalidError(`${name} must be between 1 and 100.`);
  };
  ttl('defaultTtlAsIso8601', s.defaultTtlMs);
  ttl('feedback.ttlAsIso8601', s.feedbackTtlMs);
  count('maxDeliveryCount', s.maxDeliveryCount);
  count('feedback.maxDeliveryCount', s.feedbackMaxDeliveryCount);
  if (!Number.isInteger(s.feedbackLockMs) || s.feedbackLockMs < 5000 || s.feedbackLockMs > 5 * MINUTE) {
    throw new ArgumentInvalidError('feedback.lockDurationAsIso8601 must be between PT5S and PT5M.');
  }
  return s;
}

const DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Parse an ISO 8601 duration of days, hours, minutes and seconds (`PT1H`, `P2D`, `PT90S`) into ms. */
export function parseIsoDuration(text: string, name: string): number {
  const m = DURATION.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) throw new ArgumentInvalidError(`${name} is not an ISO 8601 duration such as PT1H: "${text}".`);
  const [, d, h, min, s] = m;
  return Math.round(((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 + Number(s ?? 0) * 1000);
}

/** Format ms as IoT Hub prints durations: `PT1H`, `P2D`, `PT1H30M`, `PT45S`. */
export function formatIsoDuration(ms: number): string {
  let rest = Math.round(ms / 1000);
  const d = Math.floor(rest / 86400);
  rest -= d * 86400;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  const time = (h ? `${h}H` : '') + (m ? `${m}M` : '') + (s ? `${s}S` : '');
  if (!d && !time) return 'PT0S';
  return `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}

/** The hub's `cloudToDevice` JSON as ARM shows it. */
export interface CloudToDeviceJson {
  maxDeliveryCount: number;
  defaultTtlAsIso8601: string;
  feedback: { lockDurationAsIso8601: string; ttlAsIso8601: string; maxDeliveryCount: number };
}

export function settingsToJson(s: C2DSettings): CloudToDeviceJson {
  return {
    maxDeliveryCount: s.maxDeliveryCount,
    defaultTtlAsIso8601: formatIsoDuration(s.defaultTtlMs),
    feedback: { lockDurationAsIso8601: formatIsoDuration(s.feedbackLockMs), ttlAsIso8601: formatIsoDuration(s.feedbackTtlMs), maxDeliveryCount: s.feedbackMaxDeliveryCount },
  };
}

/** Apply a (possibly partial) `cloudToDevice` JSON over `base`; unknown keys and wrong types are 400s. */
export function settingsFromJson(json: unknown, base: C2DSettings): C2DSettings {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ArgumentInvalidError('The cloudToDevice settings must be a JSON object.');
  const o = json as Record<string, unknown>;
  const known = new Set(['maxDeliveryCount', 'defaultTtlAsIso8601', 'feedback']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new ArgumentInvalidError(`Unknown cloudToDevice setting "${k}".`);
  const num = (v: unknown, name: string) => {
    if (typeof v !== 'number') throw new ArgumentInvalidError(`${name} must be a number.`);
    return v;
  };
  const dur = (v: unknown, name: string) => {
    if (typeof v !== 'string') throw new ArgumentInvalidError(`${name} must be an ISO 8601 duration string.`);
    return parseIsoDuration(v, name);
  };
  let out: C2DSettings = { ...base };
  if (o['maxDeliveryCount'] !== undefined) out = { ...out, maxDeliveryCount: num(o['maxDeliveryCount'], 'maxDeliveryCount') };
  if (o['defaultTtlAsIso8601'] !== undefined) out = { ...out, defaultTtlMs: dur(o['defaultTtlAsIso8601'], 'defaultTtlAsIso8601') };
  const fb = o['feedback'];
  if (fb !== undefined) {
    if (typeof fb !== 'object' || fb === null || Array.isArray(fb)) throw new ArgumentInvalidError('feedback must be a JSON object.');
    const f = fb as Record<string, unknown>;
    const fknown = new Set(['lockDurationAsIso8601', 'ttlAsIso8601', 'maxDeliveryCount']);
    for (const k of Object.keys(f)) if (!fknown.has(k)) throw new ArgumentInvalidError(`Unknown feedback setting "${k}".`);
    if (f['lockDurationAsIso8601'] !== undefined) out = { ...out, feedbackLockMs: dur(f['lockDurationAsIso8601'], 'feedback.lockDurationAsIso8601') };
    if (f['ttlAsIso8601'] !== undefined) out = { ...out, feedbackTtlMs: dur(f['ttlAsIso8601'], 'feedback.ttlAsIso8601') };
    if (f['maxDeliveryCount'] !== undefined) out = { ...out, feedbackMaxDeliveryCount: num(f['maxDeliveryCount'], 'feedback.maxDeliveryCount') };
  }
  return validateSettings(out);
}
