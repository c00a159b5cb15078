/**
 * An Avro object container file writer for IoT Hub's blob endpoint record (scenario 24):
 * `Message { EnqueuedTimeUtc: string, Properties: map<string>, SystemProperties: map<string>,
 * Body: null | bytes }`, codec `null` or `deflate`. Small enough to write by hand (Avro 1.11
 * specification, "Object Container Files"); tests read it back with avsc.
 */
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';

export const MESSAGE_SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Message',
  namespace: 'Microsoft.Azure.Devices',
  fields: [
    { name: 'EnqueuedTimeUtc', type: 'string' },
    { name: 'Properties', type: { type: 'map', values: 'string' } },
    { name: 'SystemProperties', type: { type: 'map', values: 'string' } },
    { name: 'Body', type: ['null', 'bytes'] },
  ],
});

export interface AvroMessage {
  readonly enqueuedTimeUtc: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly systemProperties: Readonly<Record<string, string>>;
  readonly body: Uint8Array | null;
}

class Out {
  readonly parts: Buffer[] = [];
  long(n: number): void {
    // zig-zag varint; safe for the sizes and counts written here (< 2^31)
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    const bytes: number[] = [];
    while (z >= 0x80) {
      bytes.push((z & 0x7f) | 0x80);
      z = Math.floor(z / 128);
    }
    bytes.push(z);
    this.parts.push(Buffer.from(bytes));
  }
  bytes(b: Uint8Array): void {
    this.long(b.length);
    this.parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  string(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'));
  }
  map(m: Readonly<Record<string, string>>, value: (v: string) => void = (v) => this.string(v)): void {
    const entries = Object.entries(m);
    if (entries.length > 0) {
      this.long(entries.length);
      for (const [k, v] of entries) {
        this.string(k);
        value(v);
      }
    }
    this.long(0);
  }
  raw(b: Buffer): void {
    this.parts.push(b);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** One container file holding `messages` in one block (none: a valid file with no blocks). */
export function avroContainer(messages: readonly AvroMessage[], codec: 'null' | 'deflate' = 'null'): Buffer {
  const sync = randomBytes(16);
  const out = new Out();
  out.raw(Buffer.from('Obj\x01', 'latin1'));
  const meta = new Out();
  meta.map({ 'avro.schema': MESSAGE_SCHEMA, 'avro.codec': codec }, (v) => meta.bytes(Buffer.from(v, 'utf8')));
  out.raw(meta.toBuffer());
  out.raw(sync);
  if (messages.length > 0) {
    const block = new Out();
    for (const m of messages) {
      block.string(m.enqueuedTimeUtc);
      block.map(m.properties);
      block.map(m.systemProperties);
      if (m.body === null) block.long(0);
      else {
        block.long(1);
        block.bytes(m.body);
      }
    }
    const data = codec === 'deflate' ? deflateRawSync(block.toBuffer()) : block.toBuffer();
    out.long(messages.length);
    out.long(data.length);
    out.raw(data);
    out.raw(sync);
  }
  return out.toBuffer();
}
