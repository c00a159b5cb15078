import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, tcpReachable } from '@openiothub/runtime';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  readonly connectionString: string;
  readonly blobEndpoint: string;
  stop(): Promise<void>;
}

/**
 * Start an Azurite blob service (npm `azurite`, the CLI entry) on a free loopback port with a
 * throw-away data folder. `--skipApiVersionCheck`: current storage SDKs send API versions newer
 * than Azurite knows (spec/tooling.md §3). A blob URL from env (`AZURE_STORAGE_CONNECTION_STRING`)
 * is used instead when set.
 */
export async function startAzurite(opts: { tls?: { certPath: string; keyPath: string }; location?: string } = {}): Promise<Azurite> {
  const fromEnv = process.env['AZURE_STORAGE_CONNECTION_STRING'];
  if (fromEnv) {
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(fromEnv)?.[1] ?? '';
    return { connectionString: fromEnv, blobEndpoint, stop: async () => undefined };
  }
  const require = createRequire(import.meta.url);
  const bin = join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const port = await freePort();
  const location = opts.location ?? mkdtempSync(join(tmpdir(), 'azurite-'));
  const tls = opts.tls ? ['--cert', opts.tls.certPath, '--key', opts.tls.keyPath] : [];
  const child = spawn(process.execPath, [bin, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', location, '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--loose', ...tls], { stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  while (!(await tcpReachable('127.0.0.1', port))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error('azurite did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const blobEndpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=${opts.tls ? 'https' : 'http'};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!opts.location) rmSync(location, { recursive: true, force: true });
    },
  };
}
