import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobSASPermissions,
  generateAccountSASQueryParameters,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';

/** A storage answer that was not a success; `status` is the HTTP status. */
export class BlobRequestError extends Error {
  override readonly name = 'BlobRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const API_VERSION = '2021-12-02';
const encodeName = (name: string) => name.split('/').map(encodeURIComponent).join('/');

/**
 * One blob container, the way every part of the hub talks to storage: routing's blob endpoints
 * (a connection string), bulk import/export (a container SAS URL from the caller) and file upload
 * (the hub's storage, whose SAS it hands to devices). Requests are plain HTTP(S) calls of the Blob
 * REST API signed with short-lived SAS tokens (the account key never travels), so they can trust an
 * extra CA without touching the process-wide trust store (`ca`: the local hub's Azurite runs on the
 * dev certificate).
 */
export class BlobContainer {
  readonly #base: URL;
  readonly #container: string;
  readonly #credential: StorageSharedKeyCredential | undefined;
  /** For a SAS-URL container: its query string. */
  readonly #sas: string | undefined;
  readonly #ca: string[] | undefined;
  #ensured = false;

  private constructor(o: { base: URL; container: string; credential?: StorageSharedKeyCredential; sas?: string; ca?: string | undefined }) {
    this.#base = o.base;
    this.#container = o.container;
    this.#credential = o.credential;
    this.#sas = o.sas;
    this.#ca = o.ca ? [...rootCertificates, o.ca] : undefined;
  }

  /** A container of the account a connection string names (AccountName, AccountKey, BlobEndpoint or protocol + suffix). */
  static fromConnectionString(connectionString: string, container: string, opts: { ca?: string | undefined } = {}): BlobContainer {
    const field = (name: string) => new RegExp(`(?:^|;)${name}=([^;]+)`).exec(connectionString)?.[1];
    const account = field('AccountName') ?? '';
    const key = field('AccountKey');
    if (!account || !key) throw new Error('A storage connection string needs AccountName and AccountKey.');
    const explicit = field('BlobEndpoint');
    const base = new URL(explicit ?? `${field('DefaultEndpointsProtocol') ?? 'https'}://${account}.blob.${field('EndpointSuffix') ?? 'core.windows.net'}`);
    return new BlobContainer({ base, container, credential: new StorageSharedKeyCredential(account, key), ca: opts.ca });
  }

  /** A container addressed by a SAS URL (`https://host/[account/]container?sv=…`). */
  static fromSasUrl(url: string, opts: { ca?: string | undefined } = {}): BlobContainer {
    const u = new URL(url);
    const parts = u.pathname.replace(/\/$/, '').split('/');
    const container = parts.pop() ?? '';
    const base = new URL(`${u.protocol}//${u.host}${parts.join('/')}`);
    return new BlobContainer({ base, container, sas: u.search.replace(/^\?/, ''), ca: opts.ca });
  }

  get name(): string {
    return this.#container;
  }

  /** What the device SDK joins into `https://{hostName}/{container}/{blob}{sas}`: the endpoint without its scheme (port and path prefix kept). */
  get hostName(): string {
    return `${this.#base.host}${this.#base.pathname.replace(/\/$/, '')}`;
  }

  /** The blob's URL, without any SAS. */
  blobUrl(blob: string): string {
    return `${this.#base.href.replace(/\/$/, '')}/${this.#container}/${encodeName(blob)}`;
  }

  #protocol(): SASProtocol {
    return this.#base.protocol === 'https:' ? SASProtocol.Https : SASProtocol.HttpsAndHttp;
  }

  #blobSas(blob: string, permissions: string, ttlMs = 10 * 60_000): string {
    if (this.#sas !== undefined) return this.#sas;
    return generateBlobSASQueryParameters(
      { containerName: this.#container, blobName: blob, permissions: BlobSASPermissions.parse(permissions), startsOn: new Date(Date.now() - 5 * 60_000), expiresOn: new Date(Date.now() + ttlMs), protocol: this.#protocol() },
      this.#credential!,
    ).toString();
  }

  /** A SAS that lets its holder create and write this one blob until `expiresOn` (`?sv=…`); needs an account key. */
  writeSas(blob: string, expiresOn: Date): string {
    if (!this.#credential) throw new Error('A write SAS needs the account key (a connection string container).');
    return `?${this.#blobSas(blob, 'cw', expiresOn.getTime() - Date.now())}`;
  }

  /** Create the container if it does not exist (connection-string containers; a SAS container must exist). */
  async ensure(): Promise<void> {
    if (this.#ensured || !this.#credential) return;
    const sas = generateAccountSASQueryParameters(
      { permissions: AccountSASPermissions.parse('rc'), resourceTypes: AccountSASResourceTypes.parse('c').toString(), services: AccountSASServices.parse('b').toString(), expiresOn: new Date(Date.now() + 5 * 60_000), protocol: this.#protocol() },
      this.#credential,
    );
    const r = await this.#send('PUT', `${this.#base.href.replace(/\/$/, '')}/${this.#container}?restype=container&${sas.toString()}`);
    if (r.status !== 201 && r.status !== 409) throw new BlobRequestError(r.status, `Creating container ${this.#container} failed: HTTP ${r.status} ${r.text}`);
    this.#ensured = true;
  }

  /** Write a whole block blob. `ifAbsent`: fail with 409/412 when it exists (routing's `-01` names). */
  async upload(blob: string, content: Buffer | string, opts: { contentType?: string; ifAbsent?: boolean } = {}): Promise<void> {
    const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const r = await this.#send('PUT', `${this.blobUrl(blob)}?${this.#blobSas(blob, 'cw')}`, body, {
      'x-ms-blob-type': 'BlockBlob',
      'content-type': opts.contentType ?? 'application/octet-stream',
      ...(opts.ifAbsent ? { 'if-none-match': '*' } : {}),
    });
    if (r.status !== 201) throw new BlobRequestError(r.status, `Writing blob ${blob} failed: HTTP ${r.status} ${r.text}`);
  }

  /** A block blob written part by part (export of millions of lines): `add` each part, then `commit`. */
  blocks(blob: string, contentType = 'application/octet-stream'): { add(part: Buffer | string): Promise<void>; commit(): Promise<void> } {
    const ids: string[] = [];
    return {
      add: async (part) => {
        const id = Buffer.from(String(ids.length).padStart(8, '0')).toString('base64');
        const body = Buffer.isBuffer(part) ? part : Buffer.from(part);
        const r = await this.#send('PUT', `${this.blobUrl(blob)}?comp=block&blockid=${encodeURIComponent(id)}&${this.#blobSas(blob, 'cw')}`, body);
        if (r.status !== 201) throw new BlobRequestError(r.status, `Writing a block of ${blob} failed: HTTP ${r.status} ${r.text}`);
        ids.push(id);
      },
      commit: async () => {
        const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
        const r = await this.#send('PUT', `${this.blobUrl(blob)}?comp=blocklist&${this.#blobSas(blob, 'cw')}`, Buffer.from(xml), { 'x-ms-blob-content-type': contentType, 'content-type': 'application/xml' });
        if (r.status !== 201) throw new BlobRequestError(r.status, `Committing ${blob} failed: HTTP ${r.status} ${r.text}`);
      },
    };
  }

  /** A blob's content; BlobRequestError 404 when it does not exist. */
  async download(blob: string): Promise<Buffer> {
    const r = await this.#send('GET', `${this.blobUrl(blob)}?${this.#blobSas(blob, 'r')}`);
    if (r.status !== 200) throw new BlobRequestError(r.status, `Reading blob ${blob} failed: HTTP ${r.status}`);
    return r.body;
  }

  /** Size and last change of a blob; undefined when it does not exist. */
  async properties(blob: string): Promise<{ size: number; lastModified: Date } | undefined> {
    const r = await this.#send('HEAD', `${this.blobUrl(blob)}?${this.#blobSas(blob, 'r')}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new BlobRequestError(r.status, `Reading blob ${blob} failed: HTTP ${r.status}`);
    const modified = r.headers['last-modified'];
    return { size: Number(r.headers['content-length'] ?? 0), lastModified: typeof modified === 'string' ? new Date(modified) : new Date() };
  }

  #send(method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; text: string }> {
    const u = new URL(url);
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        u,
        { method, headers: { 'x-ms-version': API_VERSION, 'x-ms-date': new Date().toUTCString(), 'content-length': String(body?.length ?? 0), ...headers }, ...(this.#ca ? { ca: this.#ca } : {}), timeout: 60_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const all = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text: res.statusCode && res.statusCode >= 300 ? all.toString('utf8').slice(0, 300) : '' });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${u.host} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
