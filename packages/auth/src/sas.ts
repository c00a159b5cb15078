import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '@openiothub/errors';

const PREFIX = 'SharedAccessSignature ';

/** A parsed SAS token. `sr` is kept exactly as sent: the HMAC covers those bytes (spec/sdk-compat.md §3). */
export interface SasToken {
  /** `sr` as it appears in the token, still encoded where the client encoded it. */
  readonly sr: string;
  /** `sr` percent-decoded: the resource URI the token is scoped to. */
  readonly resourceUri: string;
  /** The signature bytes (base64 text, already URL-decoded). */
  readonly sig: string;
  /** Expiry, whole seconds since the epoch. */
  readonly se: number;
  /** Policy name, when the token was signed with a shared access policy key. */
  readonly skn: string | undefined;
}

/**
 * `encodeURIComponent` plus `!'()*`, with the lower-case hex the Azure SDKs produce
 * (azure-iot-common `encodeUriComponentStrict`).
 */
export function encodeUriComponentStrict(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16));
}

function safeDecode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new UnauthorizedError(`Malformed SAS token: ${what} is not valid percent-encoding.`);
  }
}

/**
 * Parse `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]`, fields in any order. Throws
 * UnauthorizedError (401) for anything malformed; never returns a partial token.
 */
export function parseSasToken(token: string): SasToken {
  const seen = typeof token === 'string' ? parsed.get(token) : undefined;
  if (seen) return seen;
  const t = parseFresh(token);
  remember(parsed, token, t);
  return t;
}

/**
 * Tokens parsed and signatures verified lately. Clients send the same token with every request
 * and connection until it expires, and the HMACs were ~10 % of the gateway's CPU per direct
 * method call. Only successes are kept, keyed by everything that decides them (the key material
 * included: a regenerated key never matches what the old one verified); expiry is still checked
 * by the caller on every use. Bounded: the oldest entry goes first.
 */
const MAX_REMEMBERED = 10_000;
const parsed = new Map<string, SasToken>();
const verified = new Map<string, true>();

function remember<K, V>(m: Map<K, V>, k: K, v: V): void {
  if (m.size >= MAX_REMEMBERED) m.delete(m.keys().next().value!);
  m.set(k, v);
}

function parseFresh(token: string): SasToken {
  if (typeof token !== 'string' || !token.startsWith(PREFIX)) {
    throw new UnauthorizedError('Malformed SAS token: it must start with "SharedAccessSignature ".');
  }
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).trim().split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UnauthorizedError('Malformed SAS token: every field must be key=value.');
    const key = part.slice(0, eq).trim();
    if (fields.has(key)) throw new UnauthorizedError(`Malformed SAS token: field ${key} appears twice.`);
    fields.set(key, part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  if (!sr || !sig || !se) throw new UnauthorizedError('Malformed SAS token: sr, sig and se are required.');
  if (!/^\d{1,12}$/.test(se)) throw new UnauthorizedError('Malformed SAS token: se must be whole seconds since the epoch.');
  const skn = fields.get('skn');
  return {
    sr,
    resourceUri: safeDecode(sr, 'sr'),
    sig: safeDecode(sig, 'sig'),
    se: Number(se),
    skn: skn === undefined ? undefined : safeDecode(skn, 'skn'),
  };
}

function hmac(keyBase64: string, data: string, keyBytes: 'base64' | 'utf8' = 'base64'): Buffer {
  return createHmac('sha256', keyBytes === 'utf8' ? Buffer.from(keyBase64, 'utf8') : Buffer.from(keyBase64, 'base64')).update(data, 'utf8').digest();
}

/** base64(HMAC-SHA256(base64decode(key), `${sr}\n${se}`)), the signature of IoT Hub SAS tokens. */
export function computeSignature(keyBase64: string, sr: string, se: number): string {
  return hmac(keyBase64, `${sr}\n${se}`).toString('base64');
}

/**
 * True when `token` was signed with `keyBase64`. IoT Hub clients use the key's base64-decoded
 * bytes as the HMAC key; Event Hubs clients use the UTF-8 bytes of the key string itself
 * (`keyBytes: 'utf8'`, spec/eventhubs-amqp.md §2.4) — the same portal key, two signatures.
 * The HMAC is taken over `sr` as sent first (what every Azure SDK signs); then over the
 * re-encoded resource URI with upper- and lower-case hex, since the docs' own samples sign `%2f`
 * where Node signs `%2F` (spec/seeds-devguide.md §10.4).
 * Comparison is constant-time.
 */
export function verifySasSignature(token: SasToken, keyBase64: string, keyBytes: 'base64' | 'utf8' = 'base64'): boolean {
  const memo = `${keyBytes}\n${keyBase64}\n${token.sr}\n${token.se}\n${token.sig}`;
  if (verified.has(memo)) return true;
  if (!verifyFresh(token, keyBase64, keyBytes)) return false;
  remember(verified, memo, true);
  return true;
}

function verifyFresh(token: SasToken, keyBase64: string, keyBytes: 'base64' | 'utf8'): boolean {
  let given: Buffer;
  try {
    given = Buffer.from(token.sig, 'base64');
  } catch {
    return false;
  }
  if (given.length !== 32) return false;
  const upper = encodeURIComponent(token.resourceUri);
  const lower = upper.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
  const candidates = new Set([token.sr, upper, lower]);
  let ok = false;
  for (const sr of candidates) {
    // evaluate every candidate, so timing does not reveal which form matched
    if (timingSafeEqual(hmac(keyBase64, `${sr}\n${token.se}`, keyBytes), given)) ok = true;
  }
  return ok;
}

/** True when `token` was signed with any of `keys` (primary, secondary…); empty keys never match. */
export function verifySasWithAnyKey(token: SasToken, keys: ReadonlyArray<string | undefined>, opts: { eventHubs?: boolean } = {}): boolean {
  return keys.some((k) => !!k && (verifySasSignature(token, k) || (opts.eventHubs === true && verifySasSignature(token, k, 'utf8'))));
}

/** True when the token's expiry is at or before `nowMs`. */
export function isSasExpired(token: SasToken, nowMs: number = Date.now()): boolean {
  return token.se * 1000 <= nowMs;
}

/** Options for {@link createSasToken}. */
export interface CreateSasOptions {
  /** The resource URI, unencoded: `myhub.azure-devices.net/devices/dev1`. */
  readonly resourceUri: string;
  /** Base64 symmetric key. */
  readonly key: string;
  /** Policy name (adds `skn`). */
  readonly keyName?: string | undefined;
  /** Expiry in whole seconds since the epoch. */
  readonly expiry: number;
  /**
   * Encode `sr` the way the device SDK does (default). Service tokens leave the bare host
   * unencoded (`sr=localhost`); encoding a bare host changes nothing anyway.
   */
  readonly encode?: boolean;
}

/** Build a token with the field order and encodings of the Azure SDKs: `sr, sig, skn, se`. */
export function createSasToken(opts: CreateSasOptions): string {
  const sr = opts.encode === false ? opts.resourceUri : encodeUriComponentStrict(opts.resourceUri);
  const sig = encodeUriComponentStrict(computeSignature(opts.key, sr, opts.expiry));
  const skn = opts.keyName ? `&skn=${encodeUriComponentStrict(opts.keyName)}` : '';
  return `${PREFIX}sr=${sr}&sig=${sig}${skn}&se=${opts.expiry}`;
}
