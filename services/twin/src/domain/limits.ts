import { ArgumentInvalidError } from '@openiothub/errors';

/** Twin limits (devguide §11.4–11.5). */
export const TWIN_LIMITS = {
  /** Keys: at most 64 bytes of UTF-8. */
  maxKeyBytes: 64,
  /** Objects nest at most 5 levels below a section. */
  maxDepth: 5,
  /** String values: at most 512 bytes. */
  maxStringBytes: 512,
  /** Each of tags, desired, reported: at most 8 KB (characters of its JSON, read-only parts excluded). */
  maxSectionSize: 8 * 1024,
  /** Integers in [−2^52, 2^52 − 1]. */
  minInteger: -4503599627370496,
  maxInteger: 4503599627370495,
} as const;

// C0 and C1 control characters, '.', '$' and space are not allowed in keys
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const BAD_KEY = /[\u0000-\u001f\u007f-\u009f.$ ]/;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Check a patch or document for a section. Arrays are refused in tags (IoT Hub has never
 * allowed them there) and accepted in desired/reported, as current IoT Hub and IoT Plug and Play
 * payloads use them. `allowNull` is for patches, where null deletes.
 */
export function validateSection(value: unknown, section: 'tags' | 'desired' | 'reported', opts: { allowNull: boolean }): asserts value is JsonObject {
  if (!isObject(value)) throw new ArgumentInvalidError(`${section} must be a JSON object.`);
  const walk = (v: unknown, path: string, depth: number): void => {
    if (v === null) {
      if (!opts.allowNull) throw new ArgumentInvalidError(`${path}: null is only allowed in patches, where it deletes.`);
      return;
    }
    switch (typeof v) {
      case 'boolean':
        return;
      case 'string':
        if (Buffer.byteLength(v) > TWIN_LIMITS.maxStringBytes) throw new ArgumentInvalidError(`${path}: strings are limited to ${TWIN_LIMITS.maxStringBytes} bytes.`);
        return;
      case 'number':
        if (!Number.isFinite(v)) throw new ArgumentInvalidError(`${path}: numbers must be finite.`);
        if (Number.isInteger(v) && (v < TWIN_LIMITS.minInteger || v > TWIN_LIMITS.maxInteger)) {
          throw new ArgumentInvalidError(`${path}: integers must be between ${TWIN_LIMITS.minInteger} and ${TWIN_LIMITS.maxInteger}.`);
        }
        return;
      case 'object':
        if (Array.isArray(v)) {
          if (section === 'tags') throw new ArgumentInvalidError(`${path}: arrays are not allowed in tags.`);
          v.forEach((item, i) => {
            if (item === null) throw new ArgumentInvalidError(`${path}[${i}]: arrays cannot hold null.`);
            walk(item, `${path}[${i}]`, depth + (isObject(item) ? 1 : 0));
          });
          return;
        }
        if (depth > TWIN_LIMITS.maxDepth) throw new ArgumentInvalidError(`${path}: objects nest at most ${TWIN_LIMITS.maxDepth} levels.`);
        for (const [k, child] of Object.entries(v as JsonObject)) {
          if (k === '') throw new ArgumentInvalidError(`${path}: keys cannot be empty.`);
          if (Buffer.byteLength(k) > TWIN_LIMITS.maxKeyBytes) throw new ArgumentInvalidError(`${path}.${k}: keys are limited to ${TWIN_LIMITS.maxKeyBytes} bytes.`);
          if (BAD_KEY.test(k)) throw new ArgumentInvalidError(`${path}: key "${k}" contains '.', '$', a space or a control character.`);
          walk(child, `${path}.${k}`, depth + (isObject(child) ? 1 : 0));
        }
        return;
      default:
        throw new ArgumentInvalidError(`${path}: unsupported value.`);
    }
  };
  for (const [k, child] of Object.entries(value)) {
    if (k === '$version' || k === '$metadata') continue; // read-only, ignored when sent
    walk({ [k]: child }, section, 0);
    if (k === DTRACING && section !== 'tags' && child !== null) validateTracingSetting(child, `${section}.${k}`);
  }
}

/** IoT Hub distributed tracing's sampling setting, in desired (and echoed in reported) properties (protocols-ops §7.6). */
export const DTRACING = 'azureiot*com^dtracing^1';

/** `{sampling_mode: 1 (on) | 2 (off), sampling_rate: 0-100}`, both required integers (checklist 147-148). */
function validateTracingSetting(v: unknown, path: string): void {
  if (!isObject(v)) throw new ArgumentInvalidError(`${path} must be {"sampling_mode": 1|2, "sampling_rate": 0-100}.`);
  const { sampling_mode: mode, sampling_rate: rate } = v;
  if (mode !== 1 && mode !== 2) throw new ArgumentInvalidError(`${path}.sampling_mode must be 1 (on) or 2 (off).`);
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 0 || rate > 100) throw new ArgumentInvalidError(`${path}.sampling_rate must be an integer from 0 to 100.`);
}

/** Size IoT Hub counts for a section: its JSON without whitespace, read-only members left out. */
export function sectionSize(section: JsonObject): number {
  let n = 0;
  for (const [k, v] of Object.entries(section)) {
    if (k === '$version' || k === '$metadata') continue;
    n += JSON.stringify(k).length + 1 + JSON.stringify(v).length + 1;
  }
  return n + 1;
}

/** Refuse a write that would make a section larger than 8 KB. */
export function assertSectionSize(section: JsonObject, name: string): void {
  if (sectionSize(section) > TWIN_LIMITS.maxSectionSize) {
    throw new ArgumentInvalidError(`The twin's ${name} would exceed ${TWIN_LIMITS.maxSectionSize} bytes.`);
  }
}
