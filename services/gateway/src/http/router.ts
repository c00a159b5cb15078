import type { IncomingMessage, ServerResponse } from 'node:http';
import { ArgumentInvalidError, DomainError } from '@openiothub/errors';

/** What a route handler gets. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly hub: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Decoded path segments (for SAS scope checks). */
  readonly segments: readonly string[];
  /**
   * Charge the hub's throttle (and check its daily quota) for this request's operation — called
   * by the authorizers once the caller is authenticated, so nobody without credentials can spend
   * a hub's budget. Idempotent; a no-op for operations that are not throttled.
   */
  readonly charge: () => Promise<void>;
}

/** The If-Match header, or undefined when absent or blank. */
export function ifMatchOf(ctx: RequestContext): string | undefined {
  const v = ctx.req.headers['if-match'];
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

/** A handler's answer: status, optional JSON body (or raw bytes), optional headers. */
export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  /** Bytes sent as they are (a message body); `headers` says what they are. */
  readonly raw?: Buffer;
  readonly headers?: Record<string, string>;
}

export type Handler = (ctx: RequestContext) => Promise<Reply>;

interface Route {
  readonly method: string;
  readonly pattern: readonly string[];
  readonly handler: Handler;
}

/** Split a request path into decoded segments; `/devices/` and `/devices` are the same. 400 on broken escapes. */
export function splitPath(path: string): string[] {
  const segments = path.split('/').filter((s, i, all) => !(s === '' && (i === 0 || i === all.length - 1)));
  return segments.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new ArgumentInvalidError('The request path has invalid percent-encoding.');
    }
  });
}

/** A minimal method + path-pattern router (`/devices/:deviceId/modules/:moduleId`). */
export class Router {
  readonly #routes: Route[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    this.#routes.push({ method, pattern: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** The handler and params for a request, or a 404/405 DomainError. */
  match(method: string, segments: readonly string[]): { handler: Handler; params: Record<string, string> } {
    let pathMatched = false;
    for (const route of this.#routes) {
      const params = matchPattern(route.pattern, segments);
      if (!params) continue;
      pathMatched = true;
      if (route.method === method) return { handler: route.handler, params };
    }
    if (pathMatched) throw new DomainError('MethodNotAllowed', `The method ${method} is not allowed on this resource.`);
    throw new DomainError('NotFound', `No resource at /${segments.map(encodeURIComponent).join('/')}.`);
  }
}

function matchPattern(pattern: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, p] of pattern.entries()) {
    const s = segments[i] as string;
    if (p.startsWith(':')) params[p.slice(1)] = s;
    else if (p !== s) return undefined;
  }
  return params;
}
