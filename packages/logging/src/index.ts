import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Field paths whose values are secrets; pino replaces them with "[redacted]". */
export const REDACT_PATHS = [
  'password',
  'token',
  'sas',
  'key',
  'primaryKey',
  'secondaryKey',
  'sharedAccessKey',
  'connectionString',
  'authorization',
  '*.password',
  '*.token',
  '*.key',
  '*.primaryKey',
  '*.secondaryKey',
  '*.sharedAccessKey',
  '*.connectionString',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
];

/** Strip credentials from free text: SAS signatures, SharedAccessKey=…, passwords in URLs. */
export function redactSecrets(text: string): string {
  return text
    .replace(/(sig=)[^&\s;"']+/gi, '$1[redacted]')
    .replace(/(SharedAccessKey=)[^;\s"']+/gi, '$1[redacted]')
    .replace(/(\/\/[^:/@\s]+:)[^@/\s]+@/g, '$1[redacted]@');
}

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  readonly name: string;
  readonly level?: string;
  /** Where to write; stdout by default. Tests pass a stream to read what was logged. */
  readonly destination?: NodeJS.WritableStream;
}

/** pino JSON logger with the house redaction rules; `service` is a base field. */
export function createLogger(opts: CreateLoggerOptions): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: opts.name },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: {
      err: (err: unknown) => {
        const s = pino.stdSerializers.err(err as Error);
        return { ...s, message: redactSecrets(s.message ?? ''), stack: s.stack ? redactSecrets(s.stack) : undefined };
      },
    },
  };
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
}
