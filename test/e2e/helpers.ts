import { inject } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSasToken, parseServiceConnectionString } from '@openiothub/auth';

export const hub = () => inject('hub');

/** The connection string of one of the hub's policies, read over the hub's own REST API would need keys: use the owner's. */
export function ownerConnectionString(): string {
  return hub().ownerConnectionString;
}

/** A service SAS token for the owner policy (or another key/name), valid for `ttlSeconds` (negative = expired). */
export function ownerToken(opts: { ttlSeconds?: number; keyName?: string; key?: string; resource?: string } = {}): string {
  const cs = parseServiceConnectionString(ownerConnectionString());
  return createSasToken({
    resourceUri: opts.resource ?? cs.hostName,
    key: opts.key ?? cs.sharedAccessKey,
    keyName: opts.keyName ?? cs.sharedAccessKeyName,
    expiry: Math.floor(Date.now() / 1000) + (opts.ttlSeconds ?? 3600),
    encode: false,
  });
}

/** Base URL of the hub's HTTPS endpoint. */
export function baseUrl(): string {
  const h = hub();
  return `https://${h.hostName}${h.ports.https === 443 ? '' : `:${h.ports.https}`}`;
}

/** fetch against the hub with the owner token by default. */
export function hubFetch(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const { token, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set('authorization', token ?? ownerToken());
  const sep = path.includes('?') ? '&' : '?';
  return fetch(`${baseUrl()}${path}${path.includes('api-version') ? '' : `${sep}api-version=2021-04-12`}`, { ...rest, headers });
}

const run = promisify(execFile);

/** Run curl (a raw client, independent of Node's HTTP stack); returns status, headers and body. */
export async function curl(args: string[], input?: Buffer): Promise<{ status: number; body: string; headers: string }> {
  const child = run('curl', ['-sS', '--cacert', hub().caCertPath, '-D', '-', '-o', '-', ...args], { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
  if (input) {
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  const split = stdout.indexOf('\r\n\r\n');
  const headers = stdout.slice(0, split);
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(headers)?.[1]);
  return { status, headers, body: stdout.slice(split + 4) };
}

/** Run the `iothub` CLI in-process against the test hub; resolves exit code, stdout and stderr. */
export async function iothub(...argv: string[]): Promise<{ code: number; out: string; err: string; json: () => unknown }> {
  const { runCli } = await import('@openiothub/cli');
  let out = '';
  let err = '';
  const h = hub();
  const code = await runCli(
    ['--login', h.ownerConnectionString, '--dps-login', h.dps.connectionString, '--ca', h.caCertPath, '--registry', `127.0.0.1:${h.ports.registryGrpc}`, '--hub', h.hub, ...argv],
    { out: (s) => void (out += s), err: (s) => void (err += s), env: { OPENIOTHUB_LOCAL_HUB: '/nonexistent', NATS_URL: h.backing.natsUrl } },
  );
  return { code, out, err, json: () => JSON.parse(out) };
}

/** A policy's connection string, read with the CLI (as an operator would). */
export async function policyConnectionString(name: string): Promise<string> {
  const r = await iothub('hub', 'connection-string', 'show', '--policy-name', name);
  if (r.code !== 0) throw new Error(r.err);
  return (r.json() as { connectionString: string }).connectionString;
}

/** Call `fn` until `ok` holds (every 100 ms), or fail after `ms`: the tests' one way to wait on state. */
export async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
