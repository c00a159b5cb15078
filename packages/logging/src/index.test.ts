import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { createLogger, redactSecrets } from './index.js';

describe('logging', () => {
  it('redacts keys, tokens and connection strings in fields and errors', async () => {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter(Boolean)));
    const log = createLogger({ name: 't', destination: out });
    log.info({ deviceId: 'd1', primaryKey: 'SECRET1', auth: { token: 'SharedAccessSignature sr=a&sig=SECRET2&se=1' } }, 'x');
    log.error({ err: new Error('bad HostName=h;SharedAccessKey=SECRET3') }, 'y');
    await new Promise((r) => setImmediate(r));
    const all = lines.join('\n');
    expect(all).toContain('"deviceId":"d1"');
    expect(all).toContain('"service":"t"');
    expect(all).not.toMatch(/SECRET/);
  });

  it('redacts secrets in text', () => {
    expect(redactSecrets('SharedAccessSignature sr=x&sig=abc%3D&se=1')).toBe('SharedAccessSignature sr=x&sig=[redacted]&se=1');
    expect(redactSecrets('postgres://u:pw@h/db')).toBe('postgres://u:[redacted]@h/db');
  });
});
