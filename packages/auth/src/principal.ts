import { UnauthorizedError } from '@openiothub/errors';
import { parseResourceUri, type ResourceUri } from './resource.js';
import type { SasToken } from './sas.js';

/**
 * Who signed a SAS token, by its shape (devguide §10.5): `skn` means a shared access policy key;
 * without it the resource must name exactly one device (`{host}/devices/{id}`) or module
 * (`{host}/devices/{id}/modules/{mid}`), whose own key signed it. Ids keep their case.
 */
export type SasPrincipal =
  | { readonly kind: 'policy'; readonly keyName: string; readonly resource: ResourceUri }
  | { readonly kind: 'device'; readonly deviceId: string; readonly resource: ResourceUri }
  | { readonly kind: 'module'; readonly deviceId: string; readonly moduleId: string; readonly resource: ResourceUri };

/** Classify a parsed token; 401 for a key token that does not name one device or module. */
export function classifySasToken(token: SasToken): SasPrincipal {
  const resource = parseResourceUri(token.resourceUri);
  if (token.skn) return { kind: 'policy', keyName: token.skn, resource };
  // ids keep their case: take them from the decoded URI, not the lower-cased segments
  const raw = token.resourceUri.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/').slice(1).filter((s) => s.length > 0);
  if (raw.length === 2 && raw[0]?.toLowerCase() === 'devices') return { kind: 'device', deviceId: raw[1] as string, resource };
  if (raw.length === 4 && raw[0]?.toLowerCase() === 'devices' && raw[2]?.toLowerCase() === 'modules') {
    return { kind: 'module', deviceId: raw[1] as string, moduleId: raw[3] as string, resource };
  }
  throw new UnauthorizedError('A token signed with a device or module key must be scoped to {host}/devices/{id} or {host}/devices/{id}/modules/{moduleId}.');
}
