import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, BlobSASPermissions, generateAccountSASQueryParameters, generateBlobSASQueryParameters, SASProtocol, StorageSharedKeyCredential } from '@azure/storage-blob';

/**
 * The blob storage endpoint of a hub, from its connection string. The hub's own requests (create
 * the container, read an uploaded blob's size) are plain HTTP(S) requests signed with short-lived
 * SAS tokens, so they can trust an extra CA (`ca`: the local hub's Azurite runs on the dev
 * certificate) without touching the process-wide trust store.
 */
export class BlobStorage {
  readonly #endpoint: URL;
  readonly #credential: StorageSharedKeyCredential;
  readonly #ca: string[] | undefined;
  readonly #ensured = new Set<string>();

  constructor(connectionString: string, ca?: string) {
    const field = (name: string) => new RegExp(`(?:^|;)${name}=([^;]+)`).exec(connectionString)?.[1];
    const account = field('AccountName') ?? '';
    this.#credential = new StorageSharedKeyCredential(account, field('AccountKey') ?? '');
    const explicit = field('BlobEndpoint');
    this.#endpoint = new URL(explicit ?? `${field('DefaultEndpointsProtocol') ?? 'https'}://${account}.blob.${field('EndpointSuffix') ?? 'core.windows.net'}`);
    this.#ca = ca ? [...rootCertificates, ca] : undefined;
  }

  get #base(): string {
    return this.#endpoint.href.replace(/\/$/, '');
  }

  /**
   * What the device SDK joins into `https://{hostName}/{container}/{blob}{sas}`: the endpoint
   * without its scheme, keeping a port and a path prefix (Azurite's `/devstoreaccount1`).
   */
  get hostName(): string {
    return `${this.#endpoint.host}${this.#endpoint.pathname.replace(/\/$/, '')}`;
  }

  #protocol(): SASProtocol {
    return this.#endpoint.protocol === 'https:' ? SASProtocol.Https : SASProtocol.HttpsAndHttp;
  }

  async ensureContainer(container: string): Promise<void> {
    if (this.#ensured.has(container)) return;
    const sas = generateAccountSASQueryParameters(
      { permissions: AccountSASPermissions.parse('rc'), resourceTypes: AccountSASResourceTypes.parse('c').toString(), services: AccountSASServices.parse('b').toString(), expiresOn: new Date(Date.now() + 5 * 60_000), protocol: this.#protocol() },
      this.#credential,
    );
    const r = await this.#send('PUT', `${this.#base}/${container}?restype=container&${sas.toString()}`);
    if (r.status !== 201 && r.status !== 409) throw new Error(`Creating container ${container} failed: HTTP ${r.status}.`);
    this.#ensured.add(container);
  }

  /** A SAS that lets its holder create and write this one blob until `expiresOn` (`?sv=…`). */
  writeSas(container: string, blobName: string, expiresOn: Date): string {
    return `?${this.#blobSas(container, blobName, 'cw', expiresOn)}`;
  }

  #blobSas(container: string, blobName: string, permissions: string, expiresOn: Date): string {
    return generateBlobSASQueryParameters(
      { containerName: container, blobName, permissions: BlobSASPermissions.parse(permissions), startsOn: new Date(Date.now() - 5 * 60_000), expiresOn, protocol: this.#protocol() },
      this.#credential,
    ).toString();
  }

  blobUrl(container: string, blobName: string): string {
    return `${this.#base}/${container}/${blobName.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Size and last change of a blob; undefined when it does not exist. */
  async properties(container: string, blobName: string): Promise<{ size: number; lastModified: Date } | undefined> {
    const r = await this.#send('HEAD', `${this.blobUrl(container, blobName)}?${this.#blobSas(container, blobName, 'r', new Date(Date.now() + 5 * 60_000))}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`Reading blob ${blobName} failed: HTTP ${r.status}.`);
    const modified = r.headers['last-modified'];
    return { size: Number(r.headers['content-length'] ?? 0), lastModified: typeof modified === 'string' ? new Date(modified) : new Date() };
  }

  #send(method: string, url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
    const u = new URL(url);
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(u, { method, headers: { 'x-ms-date': new Date().toUTCString(), 'content-length': '0' }, ...(this.#ca ? { ca: this.#ca } : {}), timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${u.host} timed out`)));
      req.on('error', reject);
      req.end();
    });
  }
}
