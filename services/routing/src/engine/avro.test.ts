import avro from 'avsc';
import { inflateRaw } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { avroContainer, MESSAGE_SCHEMA, type AvroMessage } from './avro.js';

function readBack(file: Buffer): Promise<{ schema: unknown; codec: string; records: unknown[] }> {
  return new Promise((resolve, reject) => {
    const records: unknown[] = [];
    let schema: unknown;
    let codec = '';
    const decoder = new avro.streams.BlockDecoder({ codecs: { null: (b: Buffer, cb: (e: Error | null, d?: Buffer) => void) => cb(null, b), deflate: (b: Buffer, cb: (e: Error | null, d?: Buffer) => void) => inflateRaw(b, cb) } });
    decoder.on('metadata', (type: { schema(): unknown }, c: string) => {
      schema = type.schema();
      codec = c;
    });
    decoder.on('data', (r: unknown) => records.push(r));
    decoder.on('end', () => resolve({ schema, codec, records }));
    decoder.on('error', reject);
    decoder.end(file);
  });
}

const sample: AvroMessage[] = [
  { enqueuedTimeUtc: '2026-11-22T10:56:00.000Z', properties: { level: 'storage', 'ünï': 'çødé' }, systemProperties: { connectionDeviceId: 'dev1', contentType: 'application/json' }, body: Buffer.from('{"t":21.5}') },
  { enqueuedTimeUtc: '2026-11-22T10:56:01.000Z', properties: {}, systemProperties: {}, body: null },
  { enqueuedTimeUtc: '2026-11-22T10:56:02.000Z', properties: { n: 'x'.repeat(300) }, systemProperties: { messageId: 'm3' }, body: Buffer.alloc(70_000, 7) },
];

describe('avroContainer', () => {
  it('writes a container file avsc reads back record for record, with the IoT Hub schema', async () => {
    for (const codec of ['null', 'deflate'] as const) {
      const { schema, codec: c, records } = await readBack(avroContainer(sample, codec));
      expect(c).toBe(codec);
      expect(schema).toEqual(avro.Type.forSchema(JSON.parse(MESSAGE_SCHEMA) as avro.Schema).schema());
      expect(records).toHaveLength(3);
      expect(records[0]).toMatchObject({ EnqueuedTimeUtc: sample[0]!.enqueuedTimeUtc, Properties: sample[0]!.properties, SystemProperties: sample[0]!.systemProperties });
      expect(Buffer.from((records[0] as { Body: Buffer }).Body).toString()).toBe('{"t":21.5}');
      expect((records[1] as { Body: unknown }).Body).toBeNull();
      expect(Buffer.from((records[2] as { Body: Buffer }).Body).equals(Buffer.alloc(70_000, 7))).toBe(true);
      expect((records[2] as { Properties: Record<string, string> }).Properties['n']).toHaveLength(300);
    }
  });

  it('writes an empty file (header only) that readers accept', async () => {
    const { records } = await readBack(avroContainer([]));
    expect(records).toEqual([]);
  });
});
