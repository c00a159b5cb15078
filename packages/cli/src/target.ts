import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Where the CLI sends requests: a hub connection string, its CA, and the registry's gRPC address. */
export interface Target {
  readonly connectionString: string;
  readonly caCertPath: string | undefined;
  readonly registryGrpc: string | undefined;
  readonly hub: string | undefined;
  readonly natsUrl: string | undefined;
  /** The Device Provisioning Service's connection string, when one is known. */
  readonly dpsConnectionString: string | undefined;
}

interface LocalHubJson {
  hub?: string;
  ownerConnectionString?: string;
  caCertPath?: string;
  ports?: { registryGrpc?: number };
  backing?: { natsUrl?: string };
  dps?: { connectionString?: string };
}

function readLocalHub(path: string): LocalHubJson | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LocalHubJson;
  } catch {
    return undefined;
  }
}

/**
 * Resolve the target: `--login` (or IOTHUB_CONNECTION_STRING) first, then the running local hub's
 * `.data/local-hub.json` (or `--local-hub FILE`). Throws a message naming both when neither exists.
 */
export function resolveTarget(opts: { login?: string; localHub?: string; ca?: string; registry?: string; dpsLogin?: string }, env: Record<string, string | undefined>): Target {
  const localPath = resolve(opts.localHub ?? env['OPENIOTHUB_LOCAL_HUB'] ?? '.data/local-hub.json');
  const local = readLocalHub(localPath);
  const connectionString = opts.login ?? env['IOTHUB_CONNECTION_STRING'] ?? local?.ownerConnectionString;
  if (!connectionString) {
    throw new Error(`No hub to talk to: pass --login "<connection string>", set IOTHUB_CONNECTION_STRING, or start a local hub (npm start) so ${localPath} exists.`);
  }
  const grpcPort = local?.ports?.registryGrpc;
  return {
    connectionString,
    // NODE_EXTRA_CA_CERTS needs no handling: Node applies it to every TLS connection by itself
    caCertPath: opts.ca ?? local?.caCertPath,
    registryGrpc: opts.registry ?? env['REGISTRY_GRPC_URL'] ?? (grpcPort ? `127.0.0.1:${grpcPort}` : undefined),
    hub: local?.hub,
    natsUrl: local?.backing?.natsUrl,
    dpsConnectionString: opts.dpsLogin ?? env['DPS_CONNECTION_STRING'] ?? local?.dps?.connectionString,
  };
}
