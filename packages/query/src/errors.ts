/**
 * The one error the query package throws for bad input: where in the text it went wrong and what
 * the parser expected there. Anything else escaping `parse*` is a bug (the fuzz test holds us to it).
 */
export class QuerySyntaxError extends Error {
  override readonly name = 'QuerySyntaxError';
  constructor(
    readonly detail: string,
    /** Zero-based character offset in the query text. */
    readonly position: number,
    /** What would have been accepted at that position, when the parser knows. */
    readonly expected?: string,
  ) {
    super(`Syntax error at position ${position}: ${detail}${expected ? ` (expected ${expected})` : ''}`);
  }
}
