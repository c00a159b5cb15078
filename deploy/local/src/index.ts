export { startLocalHub } from './local-hub.js';
export type { LocalHubInfo, LocalHubOptions } from './local-hub.js';
export { ensureDevCertificates } from './certs.js';
export type { DevCertificates } from './certs.js';
export { resolveBackingServices } from './backing-services.js';
export type { BackingServices } from './backing-services.js';
