import { z } from 'zod';

export { z };

/** Thrown when the environment does not satisfy a service's config schema; lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/**
 * Parse `env` against `schema`. Every key the schema names is read from `env` by the same name.
 * Throws ConfigError naming every bad key (never only the first).
 */
export function parseConfig<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const key = i.path.join('.') || '(root)';
    const val = env[String(i.path[0])];
    return `${key}: ${i.message}${val === undefined ? ' (not set)' : ''}`;
  });
  throw new ConfigError(problems);
}

/** A TCP port (0 = any free port), from an env string. */
export const port = (def: number) =>
  z.coerce.number().int().min(0).max(65535).default(def).describe('TCP port; 0 picks a free one');

/** A boolean from `true/false/1/0/yes/no`. */
export const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A positive integer number of milliseconds. */
export const millis = (def: number) => z.coerce.number().int().positive().default(def);

/** Settings every service shares: log level, admin port, shutdown deadline. */
export const baseSchema = {
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level'),
  ADMIN_PORT: port(9464).describe('port of /livez, /readyz and /metrics'),
  SHUTDOWN_TIMEOUT_MS: millis(15_000).describe('deadline for graceful shutdown after SIGTERM'),
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).default(0).describe('pause between readyz=503 and closing intake'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().default('').describe('OTLP/HTTP collector base URL for traces (e.g. http://otel-collector:4318); empty: tracing off'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1).describe('share of new traces sampled (0-1); a sampled parent is always followed'),
};
