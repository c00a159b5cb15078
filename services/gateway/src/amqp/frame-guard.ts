import { Transform, type TransformCallback } from 'node:stream';

/** The largest AMQP frame the endpoint accepts (and advertises as max-frame-size in its open). */
export const MAX_FRAME_SIZE = 64 * 1024;

/**
 * Watches an AMQP byte stream (SASL and AMQP protocol headers, then frames with a 4-byte size)
 * and fails it when a frame is larger than `maxFrameSize` — rhea itself would buffer a frame of any
 * size it is told. Bytes pass through unchanged.
 */
export class AmqpFrameGuard extends Transform {
  readonly #max: number;
  /** Bytes still to skip in the current frame or header. */
  #skip = 0;
  /** A partial size field (or protocol header) carried over between chunks. */
  #pending = Buffer.alloc(0);

  constructor(maxFrameSize = MAX_FRAME_SIZE) {
    super();
    this.#max = maxFrameSize;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      const need = 8 - this.#pending.length;
      const take = chunk.subarray(i, i + Math.min(need, chunk.length - i));
      this.#pending = Buffer.concat([this.#pending, take]);
      i += take.length;
      if (this.#pending.length < 8) break;
      const head = this.#pending;
      this.#pending = Buffer.alloc(0);
      if (head.subarray(0, 4).toString('latin1') === 'AMQP') continue; // a protocol header: 8 bytes
      const size = head.readUInt32BE(0);
      if (size < 8 || size > this.#max) {
        done(new Error(`AMQP frame of ${size} bytes refused (at most ${this.#max}).`));
        return;
      }
      this.#skip = size - 8;
    }
    done(null, chunk);
  }
}
