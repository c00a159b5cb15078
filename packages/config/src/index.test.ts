import { describe, expect, it } from 'vitest';
import { ConfigError, baseSchema, bool, parseConfig, port, z } from './index.js';

const schema = z.object({ ...baseSchema, DATABASE_URL: z.url(), HTTPS_PORT: port(443), FLAG: bool(false) });

describe('parseConfig', () => {
  it('applies defaults and coerces', () => {
    const c = parseConfig(schema, { DATABASE_URL: 'postgres://x@h/db', HTTPS_PORT: '8443', FLAG: 'yes' });
    expect(c).toMatchObject({ HTTPS_PORT: 8443, FLAG: true, LOG_LEVEL: 'info', ADMIN_PORT: 9464 });
  });

  it('reports every bad key at once', () => {
    let err: unknown;
    try {
      parseConfig(schema, { HTTPS_PORT: '99999', LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toMatch(/DATABASE_URL: .*\(not set\)/);
    expect(problems).toMatch(/HTTPS_PORT/);
    expect(problems).toMatch(/LOG_LEVEL/);
    expect((err as ConfigError).problems).toHaveLength(3);
  });
});
