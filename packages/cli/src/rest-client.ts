import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { createSasToken, parseServiceConnectionString } from '@openiothub/auth';

/** A REST path from segments, each percent-encoded: `restPath('devices', id)` → `/devices/{id}`. */
export const restPath = (...parts: string[]) => '/' + parts.map(encodeURIComponent).join('/');

/** An error answer of the hub, with the IoT Hub error code when the body carried one. */
export class HubRequestError extends Error {
  override readonly name = 'HubRequestError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** A minimal client of the hub's service REST API, signed with a policy connection string. */
export class HubRestClient {
  readonly #host: string;
  readonly #keyName: string;
  readonly #key: string;
  readonly #ca: string[] | undefined;

  constructor(connectionString: string, caCertPath: string | undefined) {
    const cs = parseServiceConnectionString(connectionString);
    this.#host = cs.hostName;
    this.#keyName = cs.sharedAccessKeyName;
    this.#key = cs.sharedAccessKey;
    // the hub's CA in addition to the public roots, so a hub with a public certificate still works
    this.#ca = caCertPath ? [...rootCertificates, readFileSync(caCertPath, 'utf8')] : undefined;
  }

  get hostName(): string {
    return this.#host;
  }

  /** Send a JSON request; resolves the parsed JSON body (undefined for 204), rejects with HubRequestError. */
  async send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const res = await this.request(method, path, payload, payload ? { 'content-type': 'application/json; charset=utf-8', ...headers } : headers);
    return res.body.length > 0 ? safeJson(res.body.toString('utf8')) : undefined;
  }

  /** Send raw bytes; resolves status, headers and body of a success, rejects with HubRequestError. */
  request(method: string, path: string, payload?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    const token = createSasToken({ resourceUri: this.#host, key: this.#key, keyName: this.#keyName, expiry: Math.floor(Date.now() / 1000) + 3600, encode: false });
    const sep = path.includes('?') ? '&' : '?';
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.#host.split(':')[0],
          port: Number(this.#host.split(':')[1] ?? 443),
          method,
          path: `${path}${sep}api-version=2021-04-12`,
          ca: this.#ca,
          headers: { authorization: token, ...(payload ? { 'content-length': String(payload.length) } : {}), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            const status = res.statusCode ?? 0;
            if (status < 300) return resolve({ status, headers: res.headers, body });
            const text = body.toString('utf8');
            const parsed = text ? safeJson(text) : undefined;
            // IoT Hub answers {Message: "ErrorCode:X;…"}, the provisioning service {errorCode, message}
            const message =
              typeof parsed === 'object' && parsed && 'Message' in parsed
                ? String((parsed as { Message: unknown }).Message)
                : typeof parsed === 'object' && parsed && 'message' in parsed
                  ? `${String((parsed as { errorCode?: unknown }).errorCode ?? '')} ${String((parsed as { message: unknown }).message)}`.trim()
                  : text;
            const code = /^ErrorCode:([^;]+);/.exec(message)?.[1];
            reject(new HubRequestError(status, code, `${status} ${message}`));
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
