/**
 * Resource URIs of SAS tokens: `{host}[/path…]`. Scope is a segment prefix: `/a/b` covers `/a/b/c`
 * but not `/a/bc` (spec/seeds-devguide.md §10.4). Matching ignores case, as the docs prescribe
 * lower-casing the resource URI before signing; the signing key still ties a token to its entity.
 */
export interface ResourceUri {
  /** Host name, lower case, without a port. */
  readonly host: string;
  /** Path segments after the host, lower case, empty segments dropped. */
  readonly segments: readonly string[];
}

/** Split a decoded resource URI into host and path segments. Accepts an optional scheme. */
export function parseResourceUri(uri: string): ResourceUri {
  const withoutScheme = uri.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const [hostPort = '', ...rest] = withoutScheme.split('/');
  const host = stripPort(hostPort).toLowerCase();
  return { host, segments: rest.filter((s) => s.length > 0).map((s) => s.toLowerCase()) };
}

/** `localhost:8883` → `localhost`; IPv6 literals in brackets keep their brackets. */
export function stripPort(hostPort: string): string {
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    return end === -1 ? hostPort : hostPort.slice(0, end + 1);
  }
  const colon = hostPort.indexOf(':');
  return colon === -1 ? hostPort : hostPort.slice(0, colon);
}

/** True when the token's path segments are a prefix of the required path segments. */
export function scopeCovers(token: ResourceUri, requiredPath: readonly string[]): boolean {
  if (token.segments.length > requiredPath.length) return false;
  return token.segments.every((seg, i) => seg === requiredPath[i]?.toLowerCase());
}
