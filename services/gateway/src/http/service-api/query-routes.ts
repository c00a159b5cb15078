import { ArgumentInvalidError } from '@openiothub/errors';
import { parseSelect, QuerySyntaxError } from '@openiothub/query';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import { parseJson, readBody } from '../body.js';
import type { Router } from '../router.js';

/** One page of a query from the service that owns its collection. */
export interface QueryPageRequest {
  readonly hub: string;
  readonly query: string;
  readonly pageSize: number;
  readonly continuation: string;
}
export type QueryBackend = (req: QueryPageRequest) => Promise<{ itemsJson: string; continuation?: string | undefined; itemType: string }>;

/**
 * `POST /devices/query` (sdk-compat §8.1): `{"query": "SELECT …"}`, page size from
 * `x-ms-max-item-count`, the next page from `x-ms-continuation`; the answer carries
 * `x-ms-continuation` only when there is a next page (the SDK loops while the header is present)
 * and `x-ms-item-type`. `FROM devices` and `devices.modules` go to the twin service,
 * `devices.jobs` to the jobs service. Needs RegistryRead (or ServiceConnect).
 */
export function registerQueryRoutes(router: Router, deps: { twins: QueryBackend; jobs: QueryBackend; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  router.on('POST', '/devices/query', async (ctx) => {
    await deps.auth.authorizeRequest(ctx, ['RegistryRead', 'ServiceConnect']);
    const body = parseJson(await readBody(ctx.req, deps.maxBodyBytes)) as { query?: unknown } | null;
    const query = body && typeof body === 'object' ? body.query : undefined;
    if (typeof query !== 'string' || query.trim() === '') throw new ArgumentInvalidError('The body must be {"query": "SELECT … FROM devices …"}.');
    const sizeRaw = header(ctx.req.headers['x-ms-max-item-count']);
    // IoT Hub pages hold at most 100 rows, whatever the client asks
    const pageSize = sizeRaw === undefined ? 0 : Math.min(Number(sizeRaw), MAX_PAGE_SIZE);
    if (sizeRaw !== undefined && (!/^\d+$/.test(sizeRaw) || pageSize < 1)) throw new ArgumentInvalidError('x-ms-max-item-count must be a positive integer.');
    let from: string;
    try {
      from = parseSelect(query).from;
    } catch (err) {
      if (err instanceof QuerySyntaxError) throw new ArgumentInvalidError(`Invalid query: ${err.message}`, { position: err.position });
      throw err;
    }
    const backend = from === 'devices.jobs' ? deps.jobs : deps.twins;
    const page = await backend({ hub: ctx.hub, query, pageSize, continuation: header(ctx.req.headers['x-ms-continuation']) ?? '' });
    const headers: Record<string, string> = { 'x-ms-item-type': page.itemType };
    if (page.continuation) headers['x-ms-continuation'] = page.continuation;
    return { status: 200, body: JSON.parse(page.itemsJson) as unknown, headers };
  });
}

const MAX_PAGE_SIZE = 100;
const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
