import { ArgumentInvalidError } from '@openiothub/errors';

/**
 * Parse `Key=Value;Key=Value`. Splits on `;`, then at the first `=` (base64 keys end in `=`); the
 * last duplicate wins; empty parts are ignored — the same rules as the Azure SDKs (sdk-compat §11).
 */
export function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ArgumentInvalidError(`Malformed connection string part "${part.split('=')[0] ?? ''}".`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1);
  }
  return out;
}

/** Join pairs into a connection string, leaving out undefined values, in the order given. */
export function buildConnectionString(pairs: Record<string, string | undefined>): string {
  return Object.entries(pairs)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}

/** The parts of a service (policy) connection string. */
export interface ServiceConnectionString {
  readonly hostName: string;
  readonly sharedAccessKeyName: string;
  readonly sharedAccessKey: string;
}

/** Parse and check a service connection string (`HostName`, `SharedAccessKeyName`, `SharedAccessKey`). */
export function parseServiceConnectionString(cs: string): ServiceConnectionString {
  const p = parseConnectionString(cs);
  const hostName = p['HostName'];
  const sharedAccessKeyName = p['SharedAccessKeyName'];
  const sharedAccessKey = p['SharedAccessKey'];
  if (!hostName || !sharedAccessKeyName || !sharedAccessKey) {
    throw new ArgumentInvalidError('A service connection string needs HostName, SharedAccessKeyName and SharedAccessKey.');
  }
  return { hostName, sharedAccessKeyName, sharedAccessKey };
}

/** Build a device or module connection string (what `az iot hub device-identity connection-string show` prints). */
export function deviceConnectionString(opts: {
  hostName: string;
  deviceId: string;
  moduleId?: string | undefined;
  sharedAccessKey: string;
  gatewayHostName?: string | undefined;
}): string {
  return buildConnectionString({
    HostName: opts.hostName,
    DeviceId: opts.deviceId,
    ModuleId: opts.moduleId,
    SharedAccessKey: opts.sharedAccessKey,
    GatewayHostName: opts.gatewayHostName,
  });
}

/**
 * The Event Hubs-compatible connection string of a hub's built-in endpoint (spec/eventhubs-amqp.md
 * §6.1): `Endpoint=sb://{host}[:port]/;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath={hub}`,
 * the port only when it is not 5671.
 */
export function eventHubsConnectionString(o: { hostName: string; amqpPort: number; keyName: string; key: string; hub: string }): string {
  const host = o.hostName.replace(/:\d+$/, '');
  const port = o.amqpPort === 5671 ? '' : `:${o.amqpPort}`;
  return buildConnectionString({ Endpoint: `sb://${host}${port}/`, SharedAccessKeyName: o.keyName, SharedAccessKey: o.key, EntityPath: o.hub });
}
