import type { TLSSocket } from 'node:tls';
import { peerChain } from '@openiothub/auth';
import { ArgumentInvalidError, UnauthorizedError } from '@openiothub/errors';
import { messagingV1 } from '@openiothub/proto';
import type { DeviceAuthenticator, DeviceAuthResult } from '../../auth/device-auth.js';
import { c2dHttpHeaders } from '../../c2d/wire.js';
import type { D2CIngest, IncomingTelemetry } from '../../telemetry/d2c-ingest.js';
import type { ConnectionReporter } from '../../upstream/connection-reporter.js';
import type { MessagingClient } from '../../upstream/messaging-client.js';
import type { HubInfo } from '@openiothub/bus';
import { parseJson, readBody } from '../body.js';
import { propertiesFromPairs, rawHeaderPairs, type HeaderProperties } from '../message-headers.js';
import type { Handler, RequestContext, Router } from '../router.js';

/** A JSON body, or null for an empty one. */
const jsonBody = (raw: Buffer): unknown => (raw.length === 0 ? null : parseJson(raw));

/** The batch content type of `sendEventBatch` (sdk-compat §5). */
export const BATCH_CONTENT_TYPE = 'application/vnd.microsoft.iothub.json';

/** Header-borne properties that steer delivery and are not telemetry properties. */
const NOT_TELEMETRY = new Set(['ack', 'input-name']);

function telemetryOf(body: Buffer, props: HeaderProperties): IncomingTelemetry {
  const system = Object.fromEntries(Object.entries(props.system).filter(([k]) => !NOT_TELEMETRY.has(k)));
  return { body, system, application: props.application };
}

/** Parse a `sendEventBatch` body: `[{"body": "<base64>", "properties": {"iothub-app-k": "v"}}, …]`. */
export function parseBatch(raw: Buffer): IncomingTelemetry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ArgumentInvalidError(`The batch is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new ArgumentInvalidError('A batch is a non-empty JSON array of messages.');
  return parsed.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null) throw new ArgumentInvalidError(`Batch entry ${i} is not an object.`);
    const e = item as { body?: unknown; properties?: unknown; base64Encoded?: unknown };
    if (typeof e.body !== 'string') throw new ArgumentInvalidError(`Batch entry ${i} has no string "body".`);
    const body = e.base64Encoded === false ? Buffer.from(e.body, 'utf8') : Buffer.from(e.body, 'base64');
    const props = e.properties ?? {};
    if (typeof props !== 'object' || props === null || Array.isArray(props)) throw new ArgumentInvalidError(`Batch entry ${i} "properties" must be an object.`);
    const pairs = Object.entries(props as Record<string, unknown>).map(([k, v]) => [k, String(v)] as const);
    return telemetryOf(body, propertiesFromPairs(pairs));
  });
}

/**
 * The device-facing HTTPS API (sdk-compat §5): telemetry (single and batch) and C2D polling with
 * complete / reject / abandon by lock token. Every request carries a device or module SAS token
 * (or a DeviceConnect policy token) in `Authorization`.
 */
export function registerDeviceRoutes(
  router: Router,
  deps: { auth: DeviceAuthenticator; ingest: D2CIngest; messaging: MessagingClient; reporter: ConnectionReporter; hubInfo: HubInfo; maxBodyBytes: number },
): void {
  const authenticate = async (ctx: RequestContext): Promise<DeviceAuthResult> => {
    const password = ctx.req.headers.authorization;
    const id = { hub: ctx.hub, deviceId: ctx.params['deviceId'] as string, moduleId: ctx.params['moduleId'] };
    let auth: DeviceAuthResult;
    if (password) auth = await deps.auth.authenticate({ ...id, password });
    else {
      // X.509 devices send no Authorization header: the TLS client certificate is the credential
      const chain = peerChain(ctx.req.socket as TLSSocket);
      if (chain.length === 0) throw new UnauthorizedError('The Authorization header with a SharedAccessSignature (or a client certificate) is required.');
      auth = await deps.auth.authenticateX509({ ...id, chain });
    }
    await ctx.charge();
    return auth;
  };

  const sendEvents: Handler = async (ctx) => {
    const auth = await authenticate(ctx);
    const body = await readBody(ctx.req, deps.maxBodyBytes);
    const contentType = ctx.req.headers['content-type'] ?? '';
    const messages = contentType.toLowerCase().startsWith(BATCH_CONTENT_TYPE) ? parseBatch(body) : [telemetryOf(body, propertiesFromPairs(rawHeaderPairs(ctx.req.rawHeaders)))];
    const context = deps.ingest.contextFor(auth, undefined, (await deps.hubInfo.get(auth.hub)).partitions);
    await Promise.all(messages.map((m) => deps.ingest.send(context, m)));
    deps.reporter.activity(auth.hub, auth.deviceId, auth.moduleId, new Date());
    return { status: 204 };
  };

  const queueOf = (auth: DeviceAuthResult): messagingV1.QueueKey => ({ hub: auth.hub, deviceId: auth.deviceId, moduleId: auth.moduleId ?? '' });

  const receive: Handler = async (ctx) => {
    const auth = await authenticate(ctx);
    const r = await deps.messaging.receive({ key: queueOf(auth), generationId: auth.generationId });
    deps.reporter.activity(auth.hub, auth.deviceId, auth.moduleId, new Date());
    if (!r.message) return { status: 204 };
    return { status: 200, raw: r.message.body, headers: c2dHttpHeaders(r.message) };
  };

  const settle =
    (outcome: (ctx: RequestContext) => messagingV1.Outcome): Handler =>
    async (ctx) => {
      const auth = await authenticate(ctx);
      await deps.messaging.settle({ key: queueOf(auth), lockToken: ctx.params['lockToken'] as string, outcome: outcome(ctx) });
      return { status: 204 };
    };
  const completeOrReject = settle((ctx) => (ctx.query.has('reject') ? messagingV1.Outcome.OUTCOME_REJECT : messagingV1.Outcome.OUTCOME_COMPLETE));
  const abandon = settle(() => messagingV1.Outcome.OUTCOME_ABANDON);

  // ---- file upload (devguide §8; sdk-compat §5): always HTTPS, whatever transport the device uses ----
  const startUpload = async (auth: DeviceAuthResult, blobName: unknown) => {
    if (auth.moduleId) throw new ArgumentInvalidError('File upload is for devices, not modules.');
    if (typeof blobName !== 'string') throw new ArgumentInvalidError('The body must be {"blobName": "<file name>"}.');
    return deps.messaging.createFileUpload({ hub: auth.hub, deviceId: auth.deviceId, blobName });
  };
  const createUpload: Handler = async (ctx) => {
    const auth = await authenticate(ctx);
    const r = await startUpload(auth, (jsonBody(await readBody(ctx.req, deps.maxBodyBytes)) as { blobName?: unknown } | null)?.blobName);
    return { status: 200, body: { correlationId: r.correlationId, hostName: r.hostName, containerName: r.containerName, blobName: r.blobName, sasToken: r.sasToken } };
  };
  // the deprecated form: GET /devices/{id}/files/{filename} answers the SAS URI and a correlation id
  const createUploadDeprecated: Handler = async (ctx) => {
    const auth = await authenticate(ctx);
    const r = await startUpload(auth, ctx.params['fileName']);
    return { status: 200, body: { correlationId: r.correlationId, uri: `https://${r.hostName}/${r.containerName}/${r.blobName}${r.sasToken}` } };
  };
  const notifyUpload: Handler = async (ctx) => {
    const auth = await authenticate(ctx);
    const body = (jsonBody(await readBody(ctx.req, deps.maxBodyBytes)) ?? {}) as { correlationId?: unknown; isSuccess?: unknown; statusCode?: unknown; statusDescription?: unknown };
    const correlationId = ctx.params['correlationId'] ?? body.correlationId;
    if (typeof correlationId !== 'string' || correlationId === '') throw new ArgumentInvalidError('correlationId is required (in the path or the body).');
    if (typeof body.isSuccess !== 'boolean') throw new ArgumentInvalidError('isSuccess (true or false) is required.');
    await deps.messaging.completeFileUpload({
      hub: auth.hub,
      deviceId: auth.deviceId,
      correlationId,
      isSuccess: body.isSuccess,
      statusCode: typeof body.statusCode === 'number' ? body.statusCode : 0,
      statusDescription: typeof body.statusDescription === 'string' ? body.statusDescription : '',
    });
    return { status: 204 };
  };

  router
    .on('POST', '/devices/:deviceId/files', createUpload)
    .on('POST', '/devices/:deviceId/files/notifications', notifyUpload)
    .on('POST', '/devices/:deviceId/files/notifications/:correlationId', notifyUpload)
    .on('GET', '/devices/:deviceId/files/:fileName', createUploadDeprecated)
    .on('POST', '/devices/:deviceId/messages/events', sendEvents)
    .on('POST', '/devices/:deviceId/modules/:moduleId/messages/events', sendEvents)
    .on('GET', '/devices/:deviceId/messages/devicebound', receive)
    .on('DELETE', '/devices/:deviceId/messages/devicebound/:lockToken', completeOrReject)
    .on('POST', '/devices/:deviceId/messages/devicebound/:lockToken/abandon', abandon);
}
