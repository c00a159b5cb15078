import { DomainError, ConnackCode } from '@openiothub/errors';
import type { IConnectPacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.js';
import { DpsMqttSession } from '../dps/mqtt-session.js';
import { classifyPublish, isDpsUsername, parseClientId, parsePropertyBag, parseUsername, type SubscriptionKind } from './topics.js';

/**
 * CONNECT: protocol 3.1.1 only; ClientId `deviceId[/moduleId]` matching the username; SAS token
 * as password; a will only for the identity's own telemetry topic. Then the persisted session
 * (clean session 0), one connection per identity (older ones are closed), CONNACK.
 * Every failure answers CONNACK with the code IoT Hub uses and closes (sdk-compat §4.9).
 */
export async function handleConnect(conn: MqttConnection, p: IConnectPacket): Promise<void> {
  const { deps } = conn;
  const refuse = (returnCode: number, reason: string, extra: Record<string, unknown> = {}) => {
    deps.metrics.rejectedConnects.inc({ reason });
    deps.log.info({ category: 'Connections', clientId: p.clientId, reason, returnCode, transport: conn.transport, ...extra }, 'device connect refused');
    conn.send({ cmd: 'connack', returnCode, sessionPresent: false });
    conn.close('auth-failed', reason);
  };

  if (p.protocolVersion !== 4) return refuse(ConnackCode.unacceptableProtocolVersion, 'only MQTT 3.1.1 is supported');
  if (isDpsUsername(p.username ?? '')) return DpsMqttSession.connect(conn, p, deps.provisioning);
  const id = parseClientId(p.clientId);
  if (!id) return refuse(ConnackCode.identifierRejected, 'ClientId must be deviceId or deviceId/moduleId');
  const user = parseUsername(p.username ?? '');
  if (!user) return refuse(ConnackCode.badUsernameOrPassword, 'username must be {hostname}/{deviceId}[/{moduleId}]/?api-version=…');
  if (user.deviceId !== id.deviceId || user.moduleId !== id.moduleId) return refuse(ConnackCode.notAuthorized, 'ClientId and username name different identities');
  let hub: string;
  try {
    hub = deps.hubs.resolve(user.host);
  } catch {
    return refuse(ConnackCode.notAuthorized, `no hub at host ${user.host}`);
  }
  // a SAS token as password, or (X.509 devices, no password) the TLS client certificate
  const password = p.password && p.password.length > 0 ? p.password.toString('utf8') : '';
  const chain = password ? [] : conn.peerChain();
  if (!password && chain.length === 0) return refuse(ConnackCode.badUsernameOrPassword, 'a SAS token as password, or a client certificate, is required');
  if (p.will) {
    const target = classifyPublish(p.will.topic, id);
    if (target.kind !== 'telemetry' || !parsePropertyBag(target.bag) || p.will.qos === 2) {
      return refuse(ConnackCode.notAuthorized, 'the will topic must be the identity telemetry topic');
    }
  }

  let auth;
  let partitions: number;
  let acceptingIpFilterRule: string | null;
  try {
    acceptingIpFilterRule = await deps.ipFilter.check(hub, conn.remoteAddress);
    auth = password
      ? await deps.auth.authenticate({ hub, deviceId: id.deviceId, moduleId: id.moduleId, password })
      : await deps.auth.authenticateX509({ hub, deviceId: id.deviceId, moduleId: id.moduleId, chain });
    // the new-connection throttle is charged for authenticated devices only: no credentials, no spending the hub's budget
    await deps.throttle.take(hub, 'connect');
    partitions = (await deps.hubInfo.get(hub)).partitions;
  } catch (err) {
    const e = err instanceof DomainError ? err : undefined;
    if (!e) deps.log.error({ category: 'Connections', err, hub, deviceId: id.deviceId }, 'device authentication failed unexpectedly');
    return refuse(e ? e.spec.connack : ConnackCode.serverUnavailable, e?.message ?? 'internal error', { hub, code: e?.code ?? 'ServerError' });
  }
  if (conn.closed) return;

  let subscriptions: Set<SubscriptionKind>;
  let sessionPresent = false;
  try {
    if (p.clean !== false) {
      await deps.sessions.clear(hub, p.clientId);
      subscriptions = new Set();
    } else {
      const stored = await deps.sessions.load(hub, p.clientId);
      sessionPresent = stored !== undefined;
      subscriptions = stored ?? new Set();
      if (!stored) await deps.sessions.save(hub, p.clientId, subscriptions);
    }
  } catch (err) {
    deps.log.error({ category: 'Connections', err, hub }, 'session store unavailable');
    return refuse(ConnackCode.serverUnavailable, 'session store unavailable');
  }

  let release: () => void;
  try {
    release = await deps.presence.claim(hub, id.deviceId, id.moduleId, {
      connectionId: conn.id,
      connectedAt: conn.connectedAt,
      moduleId: id.moduleId,
      kick: () => conn.close('link-creation-conflict'),
      revoke: () => conn.close('device-disabled'),
      deliver: (kind, msg) => conn.deliver(kind, msg),
      c2d: () => conn.c2d,
    });
  } catch (err) {
    deps.log.error({ category: 'Connections', err, hub }, 'presence unavailable (NATS)');
    return refuse(ConnackCode.serverUnavailable, 'presence unavailable');
  }
  if (conn.closed) {
    release();
    return;
  }
  conn.send({ cmd: 'connack', returnCode: 0, sessionPresent });
  deps.metrics.connections.inc({ transport: conn.transport });
  deps.reporter.report(hub, id.deviceId, id.moduleId, true, conn.id, new Date(conn.connectedAt));
  deps.log.info({ category: 'Connections', hub, deviceId: id.deviceId, moduleId: id.moduleId, connectionId: conn.id, transport: conn.transport, sessionPresent }, 'device connected');
  const modelId = user.params.get('model-id') || undefined;
  conn.open(
    {
      auth,
      telemetry: deps.ingest.contextFor(auth, modelId, partitions, acceptingIpFilterRule),
      identity: id,
      clientId: p.clientId,
      modelId,
      cleanSession: p.clean === true,
      subscriptions,
      will: p.will,
      release,
    },
    p.keepalive ?? 0,
  );
}
