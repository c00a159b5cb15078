import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, uniqueName, type Azurite } from '@openiothub/testing';
import { BlobContainer, BlobRequestError } from '../src/index.js';

// The blob layer against Azurite (the Blob REST API as Azure serves it).
let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(() => azurite?.stop());

describe('BlobContainer', () => {
  it('creates its container, writes, refuses to overwrite when asked, reads back, and reports size', async () => {
    const c = BlobContainer.fromConnectionString(azurite.connectionString, uniqueName('c'));
    await c.ensure();
    await c.ensure(); // idempotent
    await c.upload('dir/a b.json', '{"x":1}', { contentType: 'application/json', ifAbsent: true });
    await expect(c.upload('dir/a b.json', 'again', { ifAbsent: true })).rejects.toMatchObject({ status: 409 });
    expect((await c.download('dir/a b.json')).toString()).toBe('{"x":1}');
    expect(await c.properties('dir/a b.json')).toMatchObject({ size: 7 });
    expect(await c.properties('missing')).toBeUndefined();
    await expect(c.download('missing')).rejects.toBeInstanceOf(BlobRequestError);
    const parts = c.blocks('big.txt');
    for (let i = 0; i < 3; i++) await parts.add(`line ${i}\n`);
    await parts.commit();
    expect((await c.download('big.txt')).toString()).toBe('line 0\nline 1\nline 2\n');
    expect(c.blobUrl('dir/a b.json')).toBe(`${azurite.blobEndpoint}/${c.name}/dir/a%20b.json`);
  });

  it('hands out a write SAS for one blob only, and works from a container SAS URL', async () => {
    const name = uniqueName('s');
    const c = BlobContainer.fromConnectionString(azurite.connectionString, name);
    await c.ensure();
    const sas = c.writeSas('dev1/f.bin', new Date(Date.now() + 60_000));
    const put = (blob: string) => fetch(`${c.blobUrl(blob)}${sas}`, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'abc' });
    expect((await put('dev1/f.bin')).status).toBe(201);
    expect((await put('dev2/f.bin')).status).toBe(403);
    const containerSas = generateBlobSASQueryParameters({ containerName: name, permissions: ContainerSASPermissions.parse('rwdl'), expiresOn: new Date(Date.now() + 60_000) }, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
    const bySas = BlobContainer.fromSasUrl(`${azurite.blobEndpoint}/${name}?${containerSas.toString()}`);
    expect(bySas.name).toBe(name);
    expect((await bySas.download('dev1/f.bin')).toString()).toBe('abc');
    await bySas.upload('log.txt', 'hello');
    expect((await c.download('log.txt')).toString()).toBe('hello');
    expect(() => bySas.writeSas('x', new Date())).toThrow(/account key/);
  });
});
