import { ArgumentInvalidError } from '@openiothub/errors';

/**
 * IoT Hub messages over HTTP (sdk-compat §5): system properties travel as `iothub-*` headers,
 * application properties as `iothub-app-{name}`, `dt-subject` bare. Header names are read from
 * `rawHeaders`, because Node lowercases `headers` and application property names keep their case.
 */

/** HTTP header (lowercase) → IoT Hub system property. */
const SYSTEM_HEADERS: Readonly<Record<string, string>> = {
  'iothub-messageid': 'message-id',
  'iothub-correlationid': 'correlation-id',
  'iothub-userid': 'user-id',
  'iothub-expiry': 'absolute-expiry-time',
  'iothub-contenttype': 'content-type',
  'iothub-contentencoding': 'content-encoding',
  'iothub-interface-id': 'iothub-interface-id',
  'dt-subject': 'dt-subject',
  'iothub-ack': 'ack',
  'iothub-inputname': 'input-name',
};

const APP_PREFIX = 'iothub-app-';

/** The properties of one message: from request headers, or from a batch entry's `properties`. */
export interface HeaderProperties {
  readonly system: Record<string, string>;
  readonly application: Record<string, string>;
}

/** Properties from `[name, value, name, value, …]` pairs (request rawHeaders or a batch entry). */
export function propertiesFromPairs(pairs: Iterable<readonly [string, string]>): HeaderProperties {
  const system: Record<string, string> = {};
  const application: Record<string, string> = {};
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (lower.startsWith(APP_PREFIX)) {
      const key = name.slice(APP_PREFIX.length);
      if (key) application[key] = value;
      continue;
    }
    const sys = SYSTEM_HEADERS[lower];
    if (sys) system[sys] = value;
  }
  return { system, application };
}

/** Pairs of `req.rawHeaders`. */
export function* rawHeaderPairs(raw: readonly string[]): Generator<readonly [string, string]> {
  for (let i = 0; i + 1 < raw.length; i += 2) yield [raw[i] as string, raw[i + 1] as string];
}

/** A header value Node will write: characters outside visible Latin-1 are percent-encoded. */
export function headerValue(v: string): string {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(v) ? v : encodeURIComponent(v);
}

/** Parse an ISO time header (`iothub-expiry`), 400 when it is not one. */
export function parseTime(value: string | undefined, name: string): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw new ArgumentInvalidError(`${name} is not a date and time: "${value}".`);
  return t;
}
