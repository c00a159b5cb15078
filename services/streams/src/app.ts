import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { DomainError, ArgumentInvalidError } from '@openiothub/errors';
import { serveGrpc, streamsV1, unaryHandler } from '@openiothub/proto';
import type { ServiceContext } from '@openiothub/runtime';
import type { StreamsConfig } from './config.js';
import { Relay } from './relay.js';
import { signStreamToken, type StreamClaims } from './tokens.js';

export interface StreamsApp {
  readonly grpcPort: number;
  readonly relayPort: number;
}

const LIVE_MS = 24 * 3600_000;

/**
 * Composition root: the relay (TLS WebSockets) and the gRPC API that creates streams. A hub's
 * streams are a Redis sorted set scored by when each stops counting (the handshake deadline, then
 * far ahead once paired), so every streams process sees the same count for the limit.
 */
export async function createStreamsApp(config: StreamsConfig, ctx: ServiceContext): Promise<StreamsApp> {
  const { log, lifecycle } = ctx;
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  lifecycle.onStop('redis', async () => void (await redis.quit()));
  lifecycle.addReadinessCheck('redis', () => redis.status === 'ready');
  const active = (hub: string) => `streams:active:${hub}`;

  const relay = new Relay({
    cert: await readFile(config.TLS_CERT_PATH, 'utf8'),
    key: await readFile(config.TLS_KEY_PATH, 'utf8'),
    ca: config.RELAY_CA_PATH ? await readFile(config.RELAY_CA_PATH, 'utf8') : undefined,
    host: config.RELAY_HOST,
    port: config.RELAY_PORT,
    secret: config.STREAMS_TOKEN_SECRET,
    redis,
    handshakeMs: config.STREAMS_HANDSHAKE_MS,
    log,
    internalUrl: config.RELAY_INTERNAL_URL,
    onPaired: (c: StreamClaims) => void redis.zadd(active(c.iothub), Date.now() + LIVE_MS, c.sid),
    onEnded: (c: StreamClaims) => void redis.zrem(active(c.iothub), c.sid),
  });
  const relayPort = await relay.listen();
  relay.internalUrl = config.RELAY_INTERNAL_URL || `wss://127.0.0.1:${relayPort}`;
  const publicUrl = config.RELAY_PUBLIC_URL || `wss://localhost:${relayPort}`;
  lifecycle.onStop('relay', () => relay.close());

  const grpcPort = await serveGrpc({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [
      [
        streamsV1.StreamsServiceService,
        {
          createStream: unaryHandler(async (req) => {
            if (!req.hub || !req.deviceId) throw new ArgumentInvalidError('hub and deviceId are required.');
            if (!/^[A-Za-z0-9_.-]{1,128}$/.test(req.streamName)) throw new ArgumentInvalidError('A stream name is 1-128 letters, digits, _ . or -.');
            const now = Date.now();
            await redis.zremrangebyscore(active(req.hub), '-inf', now);
            if ((await redis.zcard(active(req.hub))) >= config.STREAMS_MAX_PER_HUB) {
              throw new DomainError('ThrottlingException', `The hub has ${config.STREAMS_MAX_PER_HUB} device streams open or opening, its limit.`);
            }
            const sid = randomBytes(16).toString('hex');
            await redis.zadd(active(req.hub), now + config.STREAMS_HANDSHAKE_MS, sid);
            const exp = Math.floor((now + config.STREAMS_HANDSHAKE_MS) / 1000);
            const token = (side: StreamClaims['side']) => signStreamToken(config.STREAMS_TOKEN_SECRET, { iothub: req.hub, dev: req.deviceId, sid, side, exp });
            return {
              streamId: sid,
              uri: `${publicUrl}/bridges/${encodeURIComponent(req.hub)}/${encodeURIComponent(req.deviceId)}/${sid}`,
              deviceToken: token('device'),
              serviceToken: token('service'),
            };
          }),
        },
      ],
    ],
    lifecycle,
    log,
  });
  log.info({ grpcPort, relayPort }, 'streams service listening');
  return { grpcPort, relayPort };
}
