/**
 * Recursive-descent parser for IoT Hub query expressions (routing conditions; the WHERE clause of
 * twin queries). Grammar, loosest binding first (devguide §16.6–16.7, routing §5.7):
 *
 *   expr           := or
 *   or             := and ( OR and )*
 *   and            := not ( AND not )*
 *   not            := NOT not | comparison
 *   comparison     := additive [ ( '=' | '!=' | '<>' | '<' | '>' | '<=' | '>=' ) additive
 *                              | ( IN | NIN ) array ]
 *   additive       := multiplicative ( ( '+' | '-' ) multiplicative )*
 *   multiplicative := unary ( ( '*' | '/' | '%' ) unary )*
 *   unary          := '-' unary | primary
 *   primary        := number | string | true | false | null | undefined | array
 *                   | '(' expr ')' | name '(' [ expr ( ',' expr )* ] ')' | path
 *   array          := '[' [ expr ( ',' expr )* ] ']'
 *   path           := name ( '.' name | '[' integer ']' )*
 *   name           := identifier (may start with '$') | '[[' any text but ']]' ']]'
 *   number         := decimal (with optional fraction and exponent) | '0x' hex digits
 *   string         := '…' | "…" with escapes \' \" \\ \/ \b \f \n \r \t \uXXXX
 *
 * Keywords (AND OR NOT IN NIN true false null undefined) and function names are case-insensitive.
 * `<>` is `!=`. Unknown functions, wrong arity and functions outside the dialect are syntax errors.
 */
import type { Expr, PathRef } from './ast.js';
import { QuerySyntaxError } from './errors.js';
import { FUNCTIONS, type Dialect } from './functions.js';
import { tokenize, type Token } from './lexer.js';

const MAX_DEPTH = 128;
const COMPARISON = new Set(['=', '!=', '<>', '<', '>', '<=', '>=']);
const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'NIN', 'TRUE', 'FALSE', 'NULL', 'UNDEFINED']);

export interface ParseOptions {
  /** Which functions are allowed: routing conditions have many, twin queries only IS_DEFINED. */
  readonly dialect?: Dialect;
}

/** Parses one expression that must span the whole text. Throws only {@link QuerySyntaxError}. */
export function parseExpression(text: string, options: ParseOptions = {}): Expr {
  const parser = new Parser(tokenize(text), options.dialect ?? 'routing');
  const expr = parser.expression();
  parser.expectEnd();
  return expr;
}

/** Token-stream cursor shared by the expression parser and (later) the SELECT statement parser. */
export class Parser {
  private i = 0;
  private depth = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly dialect: Dialect,
  ) {}

  get peek(): Token {
    return this.tokens[this.i]!;
  }

  /** The token `ahead` places after the current one (the end token past the end). */
  lookahead(ahead: number): Token {
    return this.tokens[Math.min(this.i + ahead, this.tokens.length - 1)]!;
  }

  isKeyword(word: string, token = this.peek): boolean {
    return token.kind === 'ident' && token.text.toUpperCase() === word;
  }

  isPunct(p: string, token = this.peek): boolean {
    return token.kind === 'punct' && token.text === p;
  }

  next(): Token {
    const t = this.tokens[this.i]!;
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  fail(expected: string, token = this.peek): never {
    const found = token.kind === 'eof' ? 'end of query' : token.kind === 'string' ? `'${token.text}'` : `'${token.text}'`;
    throw new QuerySyntaxError(`unexpected ${found}`, token.pos, expected);
  }

  expectPunct(p: string): Token {
    if (!this.isPunct(p)) this.fail(`'${p}'`);
    return this.next();
  }

  expectEnd(): void {
    if (this.peek.kind !== 'eof') this.fail('end of query or an operator');
  }

  expression(): Expr {
    if (++this.depth > MAX_DEPTH) throw new QuerySyntaxError(`expression nested deeper than ${MAX_DEPTH}`, this.peek.pos);
    try {
      return this.or();
    } finally {
      this.depth--;
    }
  }

  private or(): Expr {
    let left = this.and();
    while (this.isKeyword('OR')) {
      const pos = this.next().pos;
      left = { kind: 'binary', op: 'OR', left, right: this.and(), pos };
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.isKeyword('AND')) {
      const pos = this.next().pos;
      left = { kind: 'binary', op: 'AND', left, right: this.not(), pos };
    }
    return left;
  }

  private not(): Expr {
    if (this.isKeyword('NOT')) {
      const pos = this.next().pos;
      if (++this.depth > MAX_DEPTH) throw new QuerySyntaxError(`expression nested deeper than ${MAX_DEPTH}`, pos);
      try {
        return { kind: 'unary', op: 'NOT', operand: this.not(), pos };
      } finally {
        this.depth--;
      }
    }
    return this.comparison();
  }

  private comparison(): Expr {
    const left = this.additive();
    const t = this.peek;
    if (t.kind === 'punct' && COMPARISON.has(t.text)) {
      this.next();
      const op = t.text === '<>' ? '!=' : (t.text as '=' | '!=' | '<' | '>' | '<=' | '>=');
      return { kind: 'binary', op, left, right: this.additive(), pos: t.pos };
    }
    if (this.isKeyword('IN') || this.isKeyword('NIN')) {
      this.next();
      if (!this.isPunct('[')) this.fail("an array '[…]' after " + t.text.toUpperCase());
      return { kind: 'binary', op: t.text.toUpperCase() as 'IN' | 'NIN', left, right: this.primary(), pos: t.pos };
    }
    return left;
  }

  private additive(): Expr {
    let left = this.multiplicative();
    while (this.isPunct('+') || this.isPunct('-')) {
      const t = this.next();
      left = { kind: 'binary', op: t.text as '+' | '-', left, right: this.multiplicative(), pos: t.pos };
    }
    return left;
  }

  private multiplicative(): Expr {
    let left = this.unary();
    while (this.isPunct('*') || this.isPunct('/') || this.isPunct('%')) {
      const t = this.next();
      left = { kind: 'binary', op: t.text as '*' | '/' | '%', left, right: this.unary(), pos: t.pos };
    }
    return left;
  }

  private unary(): Expr {
    if (this.isPunct('-')) {
      const pos = this.next().pos;
      if (++this.depth > MAX_DEPTH) throw new QuerySyntaxError(`expression nested deeper than ${MAX_DEPTH}`, pos);
      try {
        const operand = this.unary();
        if (operand.kind === 'literal' && typeof operand.value === 'number') return { kind: 'literal', value: -operand.value, pos };
        return { kind: 'unary', op: '-', operand, pos };
      } finally {
        this.depth--;
      }
    }
    return this.primary();
  }

  private primary(): Expr {
    const t = this.peek;
    switch (t.kind) {
      case 'number':
        this.next();
        return { kind: 'literal', value: t.value!, pos: t.pos };
      case 'string':
        this.next();
        return { kind: 'literal', value: t.text, pos: t.pos };
      case 'punct':
        if (t.text === '(') {
          this.next();
          const inner = this.expression();
          this.expectPunct(')');
          return inner;
        }
        if (t.text === '[') {
          this.next();
          const items: Expr[] = [];
          if (!this.isPunct(']')) {
            items.push(this.expression());
            while (this.isPunct(',')) {
              this.next();
              items.push(this.expression());
            }
          }
          this.expectPunct(']');
          return { kind: 'array', items, pos: t.pos };
        }
        return this.fail('a value, a property name, a function call or (');
      case 'ident': {
        const upper = t.text.toUpperCase();
        const constants: Record<string, boolean | null | undefined> = { TRUE: true, FALSE: false, NULL: null, UNDEFINED: undefined };
        if (upper in constants) {
          this.next();
          return { kind: 'literal', value: constants[upper], pos: t.pos };
        }
        if (KEYWORDS.has(upper)) return this.fail('a value, a property name, a function call or (');
        if (this.isPunct('(', this.tokens[this.i + 1])) return this.call();
        return this.path();
      }
      case 'escaped':
        return this.path();
      default:
        return this.fail('a value, a property name, a function call or (');
    }
  }

  private call(): Expr {
    const nameToken = this.next();
    const name = nameToken.text.toUpperCase();
    const spec = FUNCTIONS[name];
    if (!spec) throw new QuerySyntaxError(`unknown function ${nameToken.text}`, nameToken.pos, 'a function of the query language');
    if (!spec.dialects.includes(this.dialect)) throw new QuerySyntaxError(`function ${name} is not available in ${this.dialect} queries`, nameToken.pos);
    this.expectPunct('(');
    const args: Expr[] = [];
    if (!this.isPunct(')')) {
      args.push(this.expression());
      while (this.isPunct(',')) {
        this.next();
        args.push(this.expression());
      }
    }
    const close = this.expectPunct(')');
    if (args.length < spec.min || args.length > spec.max) {
      const want = spec.min === spec.max ? `${spec.min}` : spec.max > 32 ? `at least ${spec.min}` : `${spec.min} to ${spec.max}`;
      throw new QuerySyntaxError(`${name} takes ${want} argument(s), got ${args.length}`, close.pos);
    }
    return { kind: 'call', name, args, pos: nameToken.pos };
  }

  /** `name ( '.' name | '[' integer ']' )*` */
  path(): PathRef {
    const first = this.next();
    const segments: (string | number)[] = [];
    for (;;) {
      if (this.isPunct('.')) {
        this.next();
        const seg = this.peek;
        if (seg.kind !== 'ident' && seg.kind !== 'escaped') this.fail('a property name after .');
        this.next();
        segments.push(seg.text);
      } else if (this.isPunct('[')) {
        this.next();
        const idx = this.peek;
        if (idx.kind !== 'number' || !Number.isInteger(idx.value) || idx.value! < 0) this.fail('an array index (a non-negative integer)');
        this.next();
        this.expectPunct(']');
        segments.push(idx.value!);
      } else break;
    }
    return { kind: 'path', root: first.text, segments, pos: first.pos };
  }
}
