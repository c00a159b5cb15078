import { describe, expect, it } from 'vitest';
import { createLogger } from '@openiothub/logging';
import { messagingV1 } from '@openiothub/proto';
import type { MessagingClient } from '../upstream/messaging-client.js';
import { C2DPump } from './pump.js';

const { Outcome } = messagingV1;
const key = { hub: 'h', deviceId: 'd', moduleId: '' };
const message = (lockToken: string) => messagingV1.C2DMessage.fromPartial({ messageId: lockToken, lockToken, body: Buffer.from('x') });
const tick = () => new Promise((r) => setImmediate(r));

/** A pump over a messaging service whose queue holds `queued` (receive locks and returns them in order). */
function pumpOver(queued: string[]) {
  const calls: string[] = [];
  const delivered: string[] = [];
  const messaging = {
    receive: async () => {
      calls.push('receive');
      const next = queued.shift();
      return next ? { message: message(next), retryAfterMs: 0 } : { retryAfterMs: 0 };
    },
    settle: async (req: messagingV1.SettleRequest) => {
      calls.push(`settle ${req.lockToken} ${req.outcome}`);
      return { remaining: queued.length };
    },
  } as unknown as MessagingClient;
  const pump = new C2DPump({ messaging, log: createLogger({ name: 'pump-test', level: 'silent' }), key, generationId: 'g', deliver: (m) => delivered.push(m.lockToken) });
  return { pump, calls, delivered };
}

describe('C2D pump: a message locked for it at send time', () => {
  it('delivers it at once when idle, without a receive, and goes on from its settlement', async () => {
    const { pump, calls, delivered } = pumpOver(['next']);
    expect(pump.idle).toBe(true);
    pump.offer(message('sent'));
    expect(delivered).toEqual(['sent']);
    expect(pump.idle).toBe(false);
    pump.settle('sent', Outcome.OUTCOME_COMPLETE);
    await tick();
    await tick();
    expect(calls).toEqual([`settle sent ${Outcome.OUTCOME_COMPLETE}`, 'receive']);
    expect(delivered).toEqual(['sent', 'next']);
  });

  it('hands it back (abandon) while another delivery is in flight, and after the link ended', async () => {
    const { pump, calls, delivered } = pumpOver(['first']);
    pump.kick();
    await tick();
    expect(delivered).toEqual(['first']);
    pump.offer(message('sent'));
    expect(delivered).toEqual(['first']);
    await tick();
    expect(calls).toEqual(['receive', `settle sent ${Outcome.OUTCOME_ABANDON}`]);

    pump.stop();
    pump.offer(message('late'));
    await tick();
    expect(calls).toContain(`settle late ${Outcome.OUTCOME_ABANDON}`);
    expect(delivered).toEqual(['first']);
  });
});
