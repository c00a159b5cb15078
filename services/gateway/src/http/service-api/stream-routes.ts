import { requestStream, type LocalDeviceRequester, type NatsConnection } from '@openiothub/bus';
import { ArgumentInvalidError } from '@openiothub/errors';
import type { PromiseClient, streamsV1 } from '@openiothub/proto';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import { parseJson, readBody } from '../body.js';
import type { Router } from '../router.js';

export type StreamsClient = PromiseClient<streamsV1.StreamsServiceClient>;

/**
 * `POST /twins/{deviceId}/streams/{streamName}` (seeds-protocols-ops §2.3; ServiceConnect): mints
 * the stream's tokens, asks the device over MQTT (it must be connected and subscribed to
 * `$iothub/streams/POST/#`), and answers `{isAccepted, uri, authorizationToken, streamName}` — the
 * service then opens its WebSocket to `uri` with `Authorization: Bearer <authorizationToken>`.
 * Body (optional): `{responseTimeoutInSeconds (5-60, default 30), connectTimeoutInSeconds (0-60)}`.
 */
export function registerStreamRoutes(router: Router, deps: { streams: StreamsClient; nc: NatsConnection; local: LocalDeviceRequester; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  router.on('POST', '/twins/:deviceId/streams/:streamName', async (ctx) => {
    await deps.auth.authorizeRequest(ctx, 'ServiceConnect');
    const raw = await readBody(ctx.req, deps.maxBodyBytes);
    const body = (raw.length > 0 ? parseJson(raw) : {}) as Record<string, unknown> | null;
    const seconds = (name: string, min: number, def: number) => {
      const v = body?.[name];
      if (v === undefined || v === null) return def;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 60) throw new ArgumentInvalidError(`${name} must be a whole number of seconds from ${min} to 60.`);
      return v;
    };
    const responseTimeoutInSeconds = seconds('responseTimeoutInSeconds', 5, 30);
    const connectTimeoutInSeconds = seconds('connectTimeoutInSeconds', 0, 0);
    const deviceId = ctx.params['deviceId'] as string;
    const streamName = ctx.params['streamName'] as string;
    const s = await deps.streams.createStream({ hub: ctx.hub, deviceId, streamName });
    const status = await requestStream(deps.nc, { hub: ctx.hub, deviceId }, { streamName, url: s.uri, auth: s.deviceToken, responseTimeoutInSeconds, connectTimeoutInSeconds }, deps.local);
    const isAccepted = status >= 200 && status < 300;
    return { status: 200, body: { isAccepted, uri: s.uri, authorizationToken: isAccepted ? s.serviceToken : '', streamName } };
  });
}
