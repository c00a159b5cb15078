import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { createSasToken, parseServiceConnectionString } from '@openiothub/auth';

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

  /** Send one request; resolves the parsed JSON body (undefined for 204), rejects with HubRequestError. */
  send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    const token = createSasToken({ resourceUri: this.#host, key: this.#key, keyName: this.#keyName, expiry: Math.floor(Date.now() / 1000) + 3600, encode: false });
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const sep = path.includes('?') ? '&' : '?';
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.#host.split(':')[0],
          port: Number(this.#host.split(':')[1] ?? 443),
          method,
          path: `${path}${sep}api-version=2021-04-12`,
          ca: this.#ca,
          headers: {
            authorization: token,
            ...(payload ? { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length) } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const parsed = text ? safeJson(text) : undefined;
            const status = res.statusCode ?? 0;
            if (status < 300) return resolve(parsed);
            const message = typeof parsed === 'object' && parsed && 'Message' in parsed ? String((parsed as { Message: unknown }).Message) : text;
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
