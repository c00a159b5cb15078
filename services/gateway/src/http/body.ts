import type { IncomingMessage } from 'node:http';
import { ArgumentInvalidError } from '@openiothub/errors';

/**
 * Read a request body (chunked or not) up to `limit` bytes. Past the limit the read stops at once
 * with a 400 — the rest is never buffered.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function tooLarge(limit: number): ArgumentInvalidError {
  return new ArgumentInvalidError(`The request body is larger than ${limit} bytes.`, { limit });
}

/** Parse a JSON body; 400 with a clear message when it is empty or malformed. */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new ArgumentInvalidError('A JSON request body is required.');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ArgumentInvalidError(`The request body is not valid JSON: ${(err as Error).message}`);
  }
}
