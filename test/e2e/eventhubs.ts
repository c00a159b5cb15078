import { expect } from 'vitest';
import type { EventHubConsumerClient, ReceivedEventData } from '@azure/event-hubs';
import { hub, iothub } from './helpers.js';

/** The built-in endpoint's connection string, as an operator gets it from the CLI. */
export async function ehConnectionString(): Promise<string> {
  const r = await iothub('hub', 'connection-string', 'show', '--eh', '--policy-name', 'service', '--amqp-port', String(hub().ports.amqp));
  expect(r.code, r.err).toBe(0);
  return (r.json() as { connectionString: string }).connectionString;
}

/** Which partition each event came from. */
export const partitionOf = new WeakMap<ReceivedEventData, string>();

/** Read every event of every partition into `into` until the subscription is closed. */
export function subscribeAll(client: EventHubConsumerClient, into: ReceivedEventData[], startPosition: object) {
  return client.subscribe(
    {
      processEvents: async (events, ctx) => {
        for (const e of events) {
          into.push(e);
          partitionOf.set(e, ctx.partitionId);
        }
      },
      processError: async () => undefined,
    },
    { startPosition: startPosition as never, maxWaitTimeInSeconds: 1 },
  );
}

