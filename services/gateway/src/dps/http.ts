import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isSasExpired, parseSasToken, peerChain, stripPort, verifySasWithAnyKey } from '@openiothub/auth';
import { ArgumentInvalidError, DomainError, JSON_CONTENT_TYPE, UnauthorizedError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import type { provisioningV1 } from '@openiothub/proto';
import { parseJson, readBody } from '../http/body.js';
import type { ProvisioningClient } from './mqtt-session.js';
import { assigningBody, dpsError, parseRegisterBody } from './wire.js';

type Right = 'EnrollmentRead' | 'EnrollmentWrite' | 'RegistrationStatusRead' | 'RegistrationStatusWrite' | 'ServiceConfig';

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

interface Ctx {
  readonly req: IncomingMessage;
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
}

/** The service collections of the DPS REST API (api-version 2021-10-01), by lower-cased first segment. */
const SERVICE_ROOTS = new Set(['enrollments', 'enrollmentgroups', 'registrations']);

/** True for a DPS request: the device API (`/{idScope}/registrations/…`) or the service API. */
export function isDpsPath(segments: readonly string[]): boolean {
  if (segments.length >= 4 && segments[1] === 'registrations') return true;
  return segments.length >= 1 && SERVICE_ROOTS.has(segments[0]!.toLowerCase());
}

/**
 * DPS over HTTPS on the hub's 443 (sdk-compat §9.2): device registration and operation status, and
 * the service API the `azure-iot-provisioning-service` SDK and the CLI use (enrollments, enrollment
 * groups, registration records, and our manual failover). Errors use the DPS body.
 */
export class DpsHttp {
  readonly #provisioning: ProvisioningClient;
  readonly #instanceOfHost: (host: string) => string;
  readonly #log: Logger;
  readonly #maxBodyBytes: number;
  readonly #instances = new Map<string, { at: number; instance: provisioningV1.Instance }>();

  constructor(opts: { provisioning: ProvisioningClient; instanceOfHost: (host: string) => string; log: Logger; maxBodyBytes: number }) {
    this.#provisioning = opts.provisioning;
    this.#instanceOfHost = opts.instanceOfHost;
    this.#log = opts.log;
    this.#maxBodyBytes = opts.maxBodyBytes;
  }

  handle(req: IncomingMessage, res: ServerResponse, segments: readonly string[], query: URLSearchParams): void {
    const ctx: Ctx = { req, segments, query };
    const run = segments[1] === 'registrations' && segments.length >= 4 ? this.#device(ctx) : this.#service(ctx);
    run.then(
      (reply) => this.#write(res, reply),
      (err: unknown) => {
        const e = dpsError(err);
        if (e.status >= 500) this.#log.error({ err: e.domain.cause ?? e.domain }, 'provisioning request failed');
        if (!req.complete) req.resume();
        this.#write(res, { status: e.status, body: e.body });
      },
    );
  }

  #write(res: ServerResponse, reply: Reply): void {
    if (res.headersSent) return void res.destroy();
    const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, { ...reply.headers, ...(body ? { 'content-type': JSON_CONTENT_TYPE } : {}), 'content-length': Buffer.byteLength(body) }).end(body);
  }

  async #device({ req, segments }: Ctx): Promise<Reply> {
    const [idScope, , registrationId, action, operationId] = segments as string[];
    const sasToken = String(req.headers['authorization'] ?? '');
    // X.509 devices send no Authorization header: the TLS client certificate chain attests them
    const credential = { sasToken, clientCertChain: sasToken ? [] : peerChain(req.socket as TLSSocket).map((c) => c.toString()) };
    if (!sasToken && credential.clientCertChain.length === 0) throw new UnauthorizedError('The Authorization header with a SharedAccessSignature (or a client certificate) is required.');
    if (req.method === 'PUT' && action === 'register' && segments.length === 4) {
      const parsed = parseRegisterBody(await readBody(req, this.#maxBodyBytes), registrationId!);
      if ('error' in parsed) throw new ArgumentInvalidError(parsed.error);
      const op = await this.#provisioning.register({ idScope: idScope!, registrationId: registrationId!, payloadJson: parsed.payloadJson, forceRegistration: false, ...credential });
      return { status: 202, body: assigningBody(JSON.parse(op.json) as { operationId: string }), headers: { 'retry-after': String(op.retryAfterSeconds) } };
    }
    if (req.method === 'GET' && action === 'operations' && segments.length === 5) {
      await this.#provisioning.authenticateDevice({ idScope: idScope!, registrationId: registrationId!, ...credential });
      req.resume();
      const op = await this.#provisioning.getOperation({ idScope: idScope!, registrationId: registrationId!, operationId: operationId! });
      const body = JSON.parse(op.json) as { status: string };
      return { status: body.status === 'assigning' ? 202 : 200, body, headers: { 'retry-after': String(op.retryAfterSeconds) } };
    }
    throw new DomainError('NotFound', `No provisioning resource at /${segments.join('/')}.`);
  }

  async #service(ctx: Ctx): Promise<Reply> {
    const { req, segments } = ctx;
    const [root, id, sub] = [segments[0]!.toLowerCase(), segments[1], segments[2]];
    const method = req.method ?? 'GET';
    const ifMatch = typeof req.headers['if-match'] === 'string' && req.headers['if-match'].trim() ? req.headers['if-match'] : undefined;
    const pageSize = Number(req.headers['x-ms-max-item-count'] ?? 0) || 0;
    const continuation = String(req.headers['x-ms-continuation'] ?? '');
    const page = (r: { json: string; continuation: string }): Reply => ({ status: 200, body: JSON.parse(r.json), headers: r.continuation ? { 'x-ms-continuation': r.continuation } : {} });
    const body = async () => JSON.stringify(parseJson(await readBody(req, this.#maxBodyBytes)));
    const doc = (r: { json: string }): Reply => ({ status: 200, body: JSON.parse(r.json) });
    const p = this.#provisioning;
    if (root === 'enrollments' || root === 'enrollmentgroups') {
      const group = root === 'enrollmentgroups';
      if (id === 'query' && segments.length === 2 && method === 'POST') {
        const instance = await this.#authorize(ctx, 'EnrollmentRead');
        req.resume();
        const q = { instance, id: '', pageSize, continuation };
        return page(group ? await p.queryEnrollmentGroups(q) : await p.queryEnrollments(q));
      }
      if (id && segments.length === 2) {
        if (method === 'GET') {
          const instance = await this.#authorize(ctx, 'EnrollmentRead');
          return doc(group ? await p.getEnrollmentGroup({ instance, id }) : await p.getEnrollment({ instance, id }));
        }
        if (method === 'PUT') {
          const instance = await this.#authorize(ctx, 'EnrollmentWrite');
          const req2 = { instance, id, json: await body(), ...(ifMatch ? { ifMatch } : {}) };
          return doc(group ? await p.putEnrollmentGroup(req2) : await p.putEnrollment(req2));
        }
        if (method === 'DELETE') {
          const instance = await this.#authorize(ctx, 'EnrollmentWrite');
          const req2 = { instance, id, ...(ifMatch ? { ifMatch } : {}) };
          await (group ? p.deleteEnrollmentGroup(req2) : p.deleteEnrollment(req2));
          return { status: 204 };
        }
      }
      if (id && sub === 'attestationmechanism' && segments.length === 3 && method === 'POST') {
        const instance = await this.#authorize(ctx, 'EnrollmentRead');
        const d = JSON.parse((group ? await p.getEnrollmentGroup({ instance, id }) : await p.getEnrollment({ instance, id })).json) as { attestation: unknown };
        return { status: 200, body: d.attestation };
      }
    }
    if (root === 'registrations' && id) {
      if (sub === 'query' && segments.length === 3 && method === 'POST') {
        const instance = await this.#authorize(ctx, 'RegistrationStatusRead');
        req.resume();
        return page(await p.queryRegistrations({ instance, id, pageSize, continuation }));
      }
      if (segments.length === 2 && method === 'GET') return doc(await p.getRegistration({ instance: await this.#authorize(ctx, 'RegistrationStatusRead'), id }));
      if (segments.length === 2 && method === 'DELETE') {
        await p.deleteRegistration({ instance: await this.#authorize(ctx, 'RegistrationStatusWrite'), id, ...(ifMatch ? { ifMatch } : {}) });
        return { status: 204 };
      }
      // manual failover (IoT Central's `device manual-failover` / `manual-failback`), our extension
      if (sub === 'failover' && segments.length === 3 && method === 'POST') {
        const instance = await this.#authorize(ctx, 'ServiceConfig');
        const b = parseJson(await readBody(req, this.#maxBodyBytes)) as { ttlMinutes?: unknown; targetHub?: unknown };
        if (typeof b !== 'object' || b === null || typeof b.ttlMinutes !== 'number') throw new ArgumentInvalidError('The body must be {"ttlMinutes": n[, "targetHub": "…"]}.');
        return doc(await p.failover({ instance, registrationId: id, ttlMinutes: b.ttlMinutes, targetHub: typeof b.targetHub === 'string' ? b.targetHub : '' }));
      }
      if (sub === 'failback' && segments.length === 3 && method === 'POST') {
        const instance = await this.#authorize(ctx, 'ServiceConfig');
        req.resume();
        return doc(await p.failback({ instance, registrationId: id }));
      }
    }
    throw new DomainError('NotFound', `No provisioning resource at /${segments.join('/')}.`);
  }

  /**
   * A service SAS: `sr` = the provisioning host, `skn` = one of the instance's policies, signed with
   * its key, unexpired, and the policy grants `right`. Answers the instance name.
   */
  async #authorize({ req }: Ctx, right: Right): Promise<string> {
    const host = stripPort(String(req.headers.host ?? '')).toLowerCase();
    const name = this.#instanceOfHost(host);
    const auth = req.headers['authorization'];
    if (!auth) throw new UnauthorizedError('The Authorization header with a SharedAccessSignature is required.');
    const token = parseSasToken(auth);
    if (isSasExpired(token)) throw new UnauthorizedError('The SAS token has expired.');
    if (stripPort(token.resourceUri.split('/')[0] ?? '').toLowerCase() !== host) throw new UnauthorizedError(`The SAS token is for "${token.resourceUri}", not this provisioning service.`);
    const instance = await this.#instance(name);
    const policy = instance.policies.find((x) => x.keyName === token.skn);
    if (!policy || !verifySasWithAnyKey(token, [policy.primaryKey, policy.secondaryKey])) throw new UnauthorizedError('The SAS token is not signed by a shared access policy of this provisioning service.');
    if (!policy.rights.includes(right)) throw new UnauthorizedError(`Policy "${policy.keyName}" does not grant ${right}.`);
    return name;
  }

  async #instance(name: string): Promise<provisioningV1.Instance> {
    const cached = this.#instances.get(name);
    if (cached && Date.now() - cached.at < 5_000) return cached.instance;
    const { instance } = await this.#provisioning.getInstance({ name, idScope: '' });
    this.#instances.set(name, { at: Date.now(), instance: instance! });
    return instance!;
  }
}
