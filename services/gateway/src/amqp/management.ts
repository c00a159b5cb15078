import rhea, { type Delivery, type Message, type Receiver, type Sender } from 'rhea';
import type { HubInfo } from '@openiothub/bus';
import { DomainError, toDomainError, UnauthorizedError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import type { Principal } from './cbs.js';
import { EventHubsReader } from './eventhubs.js';

/** What a `$management` request needs of its connection. */
export interface ManagementState {
  readonly hub?: string | undefined;
  readonly managementReplies: ReadonlySet<Sender>;
  readonly linkPrincipal: ReadonlyMap<Sender | Receiver, string>;
  readonly principals: ReadonlyMap<string, Principal>;
}

/** `$management` READ of the hub (`com.microsoft:eventhub`) or a partition (spec §3). */
export async function answerManagement(
deps: { hubInfo: HubInfo; log: Logger; eventHubs: EventHubsReader },
s: ManagementState,
link: Receiver,
request: Message,
delivery: Delivery,
): Promise<void> {
  delivery.accept();
  const props = (request.application_properties ?? {}) as Record<string, unknown>;
  const replyTo = request.reply_to;
  const reply = [...s.managementReplies].find((l) => l.name === replyTo || (l as unknown as { target?: { address?: string } }).target?.address === replyTo) ?? [...s.managementReplies][0];
  const answer = (status: number, description: string, body: unknown, condition?: string) =>
    reply?.send({
      correlation_id: request.message_id,
      to: replyTo,
      application_properties: { 'status-code': rhea.types.wrap_int(status), 'status-description': description, ...(condition ? { 'error-condition': condition } : {}) },
      body,
    });
  try {
    const principalKey = s.linkPrincipal.get(link);
    const principal = principalKey ? s.principals.get(principalKey) : undefined;
    if (!principal || principal.expiresAt <= Date.now()) throw new UnauthorizedError('The token for $management expired; put a new one on $cbs.');
    if (props['operation'] !== 'READ') throw new DomainError('InvalidOperation', `Unsupported operation ${String(props['operation'])}.`);
    const name = String(props['name'] ?? '');
    if (name.toLowerCase() !== (s.hub ?? '').toLowerCase()) throw new DomainError('NotFound', `The messaging entity '${name}' could not be found.`);
    const ep = await deps.hubInfo.get(s.hub!);
    if (props['type'] === 'com.microsoft:eventhub') answer(200, 'OK', EventHubsReader.hubProperties(s.hub!, ep));
    else if (props['type'] === 'com.microsoft:partition') answer(200, 'OK', await deps.eventHubs.partitionProperties(s.hub!, String(props['partition'] ?? ''), ep));
    else throw new DomainError('InvalidOperation', `Unsupported type ${String(props['type'])}.`);
  } catch (err) {
    const e = toDomainError(err);
    if (e.code === 'ServerError') deps.log.warn({ err: e.cause ?? e }, '$management request failed');
    answer(e.spec.http, e.message, null, e.spec.amqp);
  }
}
