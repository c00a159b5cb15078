import { Transform, type TransformCallback } from 'node:stream';
import type { TLSSocket } from 'node:tls';

/** The largest AMQP frame the endpoint accepts (and advertises as max-frame-size in its open). */
export const MAX_FRAME_SIZE = 64 * 1024;

/** Bytes written to a client and not yet taken by it before the connection is cut. */
const MAX_UNREAD_BYTES = 8 * 1024 * 1024;

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

/**
 * The socket as rhea sees it: reads pass through an {@link AmqpFrameGuard}, writes go straight
 * out. A frame over the limit, or more than 8 MB written and not read, destroys the socket (after
 * `onCut`).
 */
export function guardedSocket(socket: TLSSocket, onCut: (err: Error) => void, maxFrameSize = MAX_FRAME_SIZE) {
  const guard = new AmqpFrameGuard(maxFrameSize);
  guard.on('error', (err: Error) => {
    onCut(err);
    socket.destroy();
  });
  socket.pipe(guard);
  const wrapped = {
    on: (event: string, fn: (...args: unknown[]) => void) => {
      if (event === 'data' || event === 'end') guard.on(event, fn);
      else socket.on(event, fn);
      return wrapped;
    },
    removeAllListeners: (event?: string) => {
      guard.removeAllListeners(event);
      socket.removeAllListeners(event);
      return wrapped;
    },
    write: (b: Buffer) => {
      const ok = socket.write(b);
      // a client that grants credit and stops reading (a slow consumer) must not make the gateway buffer without bound
      if (socket.writableLength > MAX_UNREAD_BYTES) {
        onCut(new Error(`slow consumer: ${socket.writableLength} bytes unread`));
        socket.destroy();
      }
      return ok;
    },
    end: () => socket.end(),
    destroy: () => socket.destroy(),
    setNoDelay: () => undefined,
    encrypted: true,
    authorized: socket.authorized,
  };
  return wrapped;
}
