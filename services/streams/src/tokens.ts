import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a stream token says: which stream, which side, until when; `jti` makes it single-use. */
export interface StreamClaims {
  readonly iothub: string;
  readonly dev: string;
  readonly sid: string;
  readonly side: 'device' | 'service';
  readonly exp: number;
  readonly jti: string;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const HEADER = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

/** A compact HS256 JWT (the shape IoT Hub's `$auth` has, seeds-protocols-ops §2.3). */
export function signStreamToken(secret: string, claims: Omit<StreamClaims, 'jti'>): string {
  const payload = b64(JSON.stringify({ ...claims, jti: randomBytes(12).toString('hex') }));
  const sig = b64(createHmac('sha256', secret).update(`${HEADER}.${payload}`).digest());
  return `${HEADER}.${payload}.${sig}`;
}

/** The claims of a token this deployment signed and that has not expired; undefined otherwise. */
export function verifyStreamToken(secret: string, token: string, now = Date.now()): StreamClaims | undefined {
  const [header, payload, sig] = token.split('.');
  if (!header || !payload || !sig || header !== HEADER) return undefined;
  const want = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  const got = Buffer.from(sig, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
  try {
    const c = JSON.parse(Buffer.from(payload, 'base64url').toString()) as StreamClaims;
    return c.exp * 1000 > now ? c : undefined;
  } catch {
    return undefined;
  }
}
