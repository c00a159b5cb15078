import { DomainError, domainErrorFromCode } from '@openiothub/errors';
import { CallBatcher, connectClient, grpc, twinV1, type PromiseClient } from '@openiothub/proto';

export type TwinClient = PromiseClient<twinV1.TwinServiceClient>;

/** How long a twin service that does not know `PatchReportedBatch` (an older version, mid-upgrade) is asked one patch at a time. */
const UNBATCHED_FOR_MS = 60_000;

const unimplemented = (err: unknown) => err instanceof DomainError && (err.cause as { code?: number } | undefined)?.code === grpc.status.UNIMPLEMENTED;

/**
 * A promise-returning client of the twin service's gRPC API; `close()` releases the channel.
 * Reported patches — every device's most frequent twin request — travel batched
 * (`PatchReportedBatch`): alone when the twin service keeps up, together when it does not. A twin
 * service without that call (an older version during a rolling upgrade) gets them one by one.
 */
export function createTwinClient(url: string): TwinClient & { close(): void } {
  const client = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, url);
  const unary = client.patchReported; // replaced below by the batched call
  let unbatchedUntil = 0;
  const oneByOne = (items: twinV1.PatchReportedRequest[]) => Promise.all(items.map((item) => unary(item).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))));
  const reported = new CallBatcher<twinV1.PatchReportedRequest, twinV1.PatchReportedResponse>(async (items) => {
    if (Date.now() < unbatchedUntil) return oneByOne(items);
    try {
      return (await client.patchReportedBatch({ items })).results.map((r) => (r.error ? domainErrorFromCode(r.error.code, r.error.message) : { reportedVersion: r.reportedVersion }));
    } catch (err) {
      if (!unimplemented(err)) throw err;
      unbatchedUntil = Date.now() + UNBATCHED_FOR_MS;
      return oneByOne(items);
    }
  });
  return Object.assign(client, { patchReported: (req: twinV1.PatchReportedRequest) => reported.call(req) });
}
