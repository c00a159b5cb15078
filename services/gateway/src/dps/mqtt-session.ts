import { ConnackCode, DomainError } from '@openiothub/errors';
import type { IConnectPacket, IPublishPacket, Packet } from 'mqtt-packet';
import type { PromiseClient, provisioningV1 } from '@openiothub/proto';
import type { MqttConnection } from '../mqtt/connection.js';
import { assigningBody, classifyDpsPublish, dpsError, dpsResponseTopic, parseDpsUsername, parseRegisterBody } from './wire.js';

export type ProvisioningClient = PromiseClient<provisioningV1.ProvisioningServiceClient>;

/** The only filter a DPS client subscribes to. */
const RESPONSE_FILTER = '$dps/registrations/res/#';

/**
 * A DPS client on the hub's MQTT port (told apart by its username, sdk-compat §9.1): CONNECT is
 * checked against the enrollments, then register / operation-status requests are answered on
 * `$dps/registrations/res/{status}/?$rid=…[&retry-after=N]`, always with a JSON body.
 */
export class DpsMqttSession {
  readonly #conn: MqttConnection;
  readonly #provisioning: ProvisioningClient;
  readonly #idScope: string;
  readonly #registrationId: string;
  /** How the client proved itself: a SAS token, or (X.509) its certificate chain as PEMs. */
  readonly #credential: { sasToken: string; clientCertChain: string[] };
  #subscribed = false;

  private constructor(conn: MqttConnection, provisioning: ProvisioningClient, idScope: string, registrationId: string, credential: { sasToken: string; clientCertChain: string[] }) {
    this.#conn = conn;
    this.#provisioning = provisioning;
    this.#idScope = idScope;
    this.#registrationId = registrationId;
    this.#credential = credential;
  }

  /** CONNECT of a DPS client: CONNACK 0 and a session, or the refusing CONNACK. */
  static async connect(conn: MqttConnection, p: IConnectPacket, provisioning: ProvisioningClient | undefined): Promise<void> {
    const { deps } = conn;
    const refuse = (returnCode: number, reason: string) => {
      deps.metrics.rejectedConnects.inc({ reason: 'dps' });
      deps.log.info({ clientId: p.clientId, reason, returnCode }, 'provisioning connect refused');
      conn.send({ cmd: 'connack', returnCode, sessionPresent: false });
      conn.close('auth-failed', reason);
    };
    const user = parseDpsUsername(p.username ?? '');
    if (!provisioning) return refuse(ConnackCode.serverUnavailable, 'no provisioning service is configured');
    if (!user || user.registrationId !== p.clientId) return refuse(ConnackCode.identifierRejected, 'ClientId must be the registration id of the username');
    const sasToken = p.password && p.password.length > 0 ? p.password.toString('utf8') : '';
    const credential = { sasToken, clientCertChain: sasToken ? [] : conn.peerChain().map((c) => c.toString()) };
    if (!sasToken && credential.clientCertChain.length === 0) return refuse(ConnackCode.badUsernameOrPassword, 'a SAS token as password, or a client certificate, is required');
    try {
      const auth = await provisioning.authenticateDevice({ idScope: user.idScope, registrationId: user.registrationId, ...credential });
      if (conn.closed) return;
      conn.openDps(new DpsMqttSession(conn, provisioning, user.idScope, user.registrationId, credential), p.keepalive ?? 0, Number(auth.expiresAtMs));
    } catch (err) {
      const e = err instanceof DomainError ? err : undefined;
      if (!e) deps.log.error({ err }, 'provisioning authentication failed unexpectedly');
      return refuse(e ? e.spec.connack : ConnackCode.serverUnavailable, e?.message ?? 'internal error');
    }
    deps.log.info({ idScope: user.idScope, registrationId: user.registrationId, connectionId: conn.id }, 'provisioning client connected');
  }

  /** Every packet after CONNACK. */
  handle(p: Packet): void {
    switch (p.cmd) {
      case 'subscribe': {
        const granted = p.subscriptions.map((s) => (s.topic === RESPONSE_FILTER ? Math.min(s.qos, 1) : 0x80));
        if (granted.some((g) => g !== 0x80)) this.#subscribed = true;
        return this.#conn.send({ cmd: 'suback', messageId: p.messageId, granted });
      }
      case 'unsubscribe':
        if (p.unsubscriptions.includes(RESPONSE_FILTER)) this.#subscribed = false;
        return this.#conn.send({ cmd: 'unsuback', messageId: p.messageId, granted: [] });
      case 'publish':
        return this.#publish(p);
      case 'pingreq':
        return this.#conn.send({ cmd: 'pingresp' });
      case 'disconnect':
        return this.#conn.close('client-disconnect');
      default:
        return this.#conn.close('protocol-violation', `unexpected ${p.cmd}`);
    }
  }

  #publish(p: IPublishPacket): void {
    if (p.qos === 2) return this.#conn.close('protocol-violation', 'QoS 2 is not supported');
    if (p.qos === 1) this.#conn.send({ cmd: 'puback', messageId: p.messageId as number });
    const req = classifyDpsPublish(p.topic);
    if (req.kind === 'unknown') return this.#conn.close('protocol-violation', `not a provisioning request topic: ${p.topic}`);
    void this.#answer(req.rid, async () => {
      if (req.kind === 'status') {
        const op = await this.#provisioning.getOperation({ idScope: this.#idScope, registrationId: this.#registrationId, operationId: req.operationId });
        const body = JSON.parse(op.json) as { status: string };
        return { status: body.status === 'assigning' ? 202 : 200, body, retryAfter: op.retryAfterSeconds };
      }
      const parsed = parseRegisterBody(p.payload as Buffer, this.#registrationId);
      if ('error' in parsed) throw new DomainError('ArgumentInvalid', parsed.error);
      const op = await this.#provisioning.register({ idScope: this.#idScope, registrationId: this.#registrationId, payloadJson: parsed.payloadJson, forceRegistration: false, ...this.#credential });
      return { status: 202, body: assigningBody(JSON.parse(op.json) as { operationId: string }), retryAfter: op.retryAfterSeconds };
    });
  }

  async #answer(rid: string, run: () => Promise<{ status: number; body: unknown; retryAfter: number }>): Promise<void> {
    let topic: string;
    let body: unknown;
    try {
      const r = await run();
      topic = dpsResponseTopic(r.status, rid, r.retryAfter);
      body = r.body;
    } catch (err) {
      const e = dpsError(err);
      if (e.status >= 500) this.#conn.deps.log.error({ err: e.domain.cause ?? e.domain, registrationId: this.#registrationId }, 'provisioning request failed');
      topic = dpsResponseTopic(e.status, rid);
      body = e.body;
    }
    if (!this.#subscribed) {
      // a broker delivers only what a client subscribed to
      this.#conn.deps.log.debug({ registrationId: this.#registrationId }, 'provisioning answer dropped: the client is not subscribed to responses');
      return;
    }
    this.#conn.send({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false, dup: false });
  }
}
