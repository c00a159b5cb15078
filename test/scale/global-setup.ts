import { ensureDevCertificates } from '@openiothub/local';
import { SCALE_CERTS_DIR } from './cluster.js';

/** The SDKs in the forked test processes trust the cluster's dev CA, as an SDK user's process would (NODE_EXTRA_CA_CERTS). */
export default async function setup() {
  const certs = await ensureDevCertificates(SCALE_CERTS_DIR);
  process.env['NODE_EXTRA_CA_CERTS'] = certs.caCertPath;
}
