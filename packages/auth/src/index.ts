export {
  parseSasToken,
  verifySasSignature,
  verifySasWithAnyKey,
  isSasExpired,
  createSasToken,
  computeSignature,
  encodeUriComponentStrict,
} from './sas.js';
export type { SasToken, CreateSasOptions } from './sas.js';
export { parseResourceUri, scopeCovers, stripPort } from './resource.js';
export { classifySasToken } from './principal.js';
export type { SasPrincipal } from './principal.js';
export type { ResourceUri } from './resource.js';
export {
  parseConnectionString,
  buildConnectionString,
  parseServiceConnectionString,
  deviceConnectionString,
  eventHubsConnectionString,
} from './connection-string.js';
export type { ServiceConnectionString } from './connection-string.js';
export { Permission, allPermissions, isPermission, defaultPolicies, hasPermission } from './permissions.js';
export { generateSymmetricKey, isValidSymmetricKey, deriveDeviceKey } from './keys.js';
export { createDevCa, issueCertificate, certificateThumbprint, createSelfSignedClientCertificate } from './dev-ca.js';
export { thumbprints, matchesThumbprint, commonName, isCurrentlyValid, parseCertificate, parseCertificates, containsPrivateKey, peerChain, verifyChain } from './x509.js';
export type { PemPair, IssueOptions } from './dev-ca.js';
export { validateIpFilterRules, ipFilterDecision, clientIpv4, MAX_IP_FILTER_RULES } from './ip-filter.js';
export type { IpFilterRule } from './ip-filter.js';
