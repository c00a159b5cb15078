import { DomainError, domainErrorFromCode } from '@openiothub/errors';
import * as grpc from '@grpc/grpc-js';

/**
 * Turns many small calls into few batched ones: a call goes out at once when fewer than
 * `maxInFlight` batches are running, else it waits and goes with everything else that arrived
 * meanwhile (at most `maxBatch` per batch). No timer: under light load every call is its own
 * batch, with no added latency; under load a gRPC call carries many items (a grpc-js unary call
 * costs ~0.18 ms of CPU on this machine class, client and server together). `send` answers each
 * item in order with its result or an Error; a failed batch fails every item in it.
 */
export class CallBatcher<Req, Res> {
  readonly #send: (items: Req[]) => Promise<Array<Res | Error>>;
  readonly #maxInFlight: number;
  readonly #maxBatch: number;
  readonly #queue: Array<{ req: Req; resolve: (r: Res) => void; reject: (e: unknown) => void }> = [];
  #running = 0;
  #scheduled = false;

  constructor(send: (items: Req[]) => Promise<Array<Res | Error>>, opts: { maxInFlight?: number; maxBatch?: number } = {}) {
    this.#send = send;
    this.#maxInFlight = opts.maxInFlight ?? 4;
    this.#maxBatch = opts.maxBatch ?? 256;
  }

  call(req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.#queue.push({ req, resolve, reject });
      this.#schedule();
    });
  }

  // calls made in the same tick go together
  #schedule(): void {
    if (this.#scheduled || this.#running >= this.#maxInFlight) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#running < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#running++;
      this.#send(batch.map((b) => b.req))
        .then(
          (results) => {
            batch.forEach((b, i) => {
              const r = results[i];
              if (r === undefined) b.reject(new Error(`the batch answered ${results.length} of ${batch.length} items`));
              else if (r instanceof Error) b.reject(r);
              else b.resolve(r);
            });
          },
          (err: unknown) => {
            for (const b of batch) b.reject(err);
          },
        )
        .finally(() => {
          this.#running--;
          this.#schedule();
        });
    }
  }
}

/** How long a service that does not know a batch call (an older version, mid-upgrade) is asked one item at a time. */
const UNBATCHED_FOR_MS = 60_000;

const unimplemented = (err: unknown) => err instanceof DomainError && (err.cause as { code?: number } | undefined)?.code === grpc.status.UNIMPLEMENTED;

/**
 * A {@link CallBatcher} over a batch RPC, with the unary RPC as the fallback: when the server
 * answers the batch call UNIMPLEMENTED (an older release during a rolling upgrade), items go one
 * by one for a minute, then the batch call is tried again. `batch` answers each item in order
 * with its result or an Error.
 */
export function batchedCall<Req, Res>(batch: (items: Req[]) => Promise<Array<Res | Error>>, one: (item: Req) => Promise<Res>): (item: Req) => Promise<Res> {
  let unbatchedUntil = 0;
  const oneByOne = (items: Req[]) => Promise.all(items.map((item) => one(item).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))));
  const batcher = new CallBatcher<Req, Res>(async (items) => {
    if (Date.now() < unbatchedUntil) return oneByOne(items);
    try {
      return await batch(items);
    } catch (err) {
      if (!unimplemented(err)) throw err;
      unbatchedUntil = Date.now() + UNBATCHED_FOR_MS;
      return oneByOne(items);
    }
  });
  return (item) => batcher.call(item);
}

/**
 * A batch answer's results as {@link batchedCall} takes them: each result's value, or the IoT Hub
 * error it carries (the client's side of `answerEach`).
 */
export function itemsOf<R extends { error?: { code: string; message: string } | undefined }, T>(results: readonly R[], value: (r: R) => T): Array<T | DomainError> {
  return results.map((r) => (r.error ? domainErrorFromCode(r.error.code, r.error.message) : value(r)));
}
