import { batchedCall, connectClient, itemsOf, twinV1, type PromiseClient } from '@openiothub/proto';

export type TwinClient = PromiseClient<twinV1.TwinServiceClient>;

/**
 * A promise-returning client of the twin service's gRPC API; `close()` releases the channel.
 * Reported patches — every device's most frequent twin request — and service twin patches travel
 * batched (`PatchReportedBatch`, `UpdateTwinBatch`): alone when the twin service keeps up, together
 * when it does not. A twin service without those calls (an older version during a rolling
 * upgrade) gets them one by one.
 */
export function createTwinClient(url: string): TwinClient & { close(): void } {
  const client = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, url);
  const patchReported = batchedCall<twinV1.PatchReportedRequest, twinV1.PatchReportedResponse>(
    async (items) => itemsOf((await client.patchReportedBatch({ items })).results, (r) => ({ reportedVersion: r.reportedVersion })),
    client.patchReported,
  );
  const updateTwin = batchedCall<twinV1.UpdateTwinRequest, twinV1.TwinResponse>(
    async (items) => itemsOf((await client.updateTwinBatch({ items })).results, (r) => ({ twinJson: r.twinJson, etag: r.etag })),
    client.updateTwin,
  );
  return Object.assign(client, { patchReported, updateTwin });
}
