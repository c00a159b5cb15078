import { QuerySyntaxError } from './errors.js';

export type TokenKind = 'number' | 'string' | 'ident' | 'escaped' | 'punct' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** The identifier or punctuation as written, the decoded string, or the number's source text. */
  readonly text: string;
  readonly value?: number;
  readonly pos: number;
}

/** Longest first, so `<=` wins over `<`. */
const PUNCT = ['<>', '!=', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', '[', ']', ',', '.'];
const IDENT_START = /[A-Za-z_$]/;
const IDENT_PART = /[A-Za-z0-9_$]/;
const MAX_QUERY_LENGTH = 64 * 1024;

/** Splits query text into tokens. Throws only {@link QuerySyntaxError}. */
export function tokenize(text: string): Token[] {
  if (text.length > MAX_QUERY_LENGTH) throw new QuerySyntaxError(`query longer than ${MAX_QUERY_LENGTH} characters`, MAX_QUERY_LENGTH);
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const hex = /^0[xX][0-9A-Fa-f]+/.exec(text.slice(i, i + 40));
      const m = hex ?? /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
      if (!m) throw new QuerySyntaxError('malformed number', i);
      i += m[0].length;
      if (IDENT_START.test(text[i] ?? '')) throw new QuerySyntaxError(`malformed number '${m[0]}${text[i]}'`, start);
      tokens.push({ kind: 'number', text: m[0], value: hex ? parseInt(m[0].slice(2), 16) : Number(m[0]), pos: start });
      continue;
    }
    if (c === "'" || c === '"') {
      let out = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new QuerySyntaxError('unterminated string', start, `closing ${c}`);
        const ch = text[i]!;
        if (ch === c) {
          i++;
          break;
        }
        if (ch === '\\') {
          const esc = text[i + 1];
          if (esc === undefined) throw new QuerySyntaxError('unterminated string', start, `closing ${c}`);
          if (esc === 'u') {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw new QuerySyntaxError('bad \\u escape', i, 'four hex digits');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 6;
            continue;
          }
          const simple: Record<string, string> = { "'": "'", '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
          const decoded = simple[esc];
          if (decoded === undefined) throw new QuerySyntaxError(`unknown escape \\${esc}`, i);
          out += decoded;
          i += 2;
          continue;
        }
        out += ch;
        i++;
      }
      tokens.push({ kind: 'string', text: out, pos: start });
      continue;
    }
    if (c === '[' && text[i + 1] === '[') {
      const end = text.indexOf(']]', i + 2);
      if (end < 0) throw new QuerySyntaxError('unterminated [[escaped name]]', start, ']]');
      if (end === i + 2) throw new QuerySyntaxError('empty [[escaped name]]', start);
      tokens.push({ kind: 'escaped', text: text.slice(i + 2, end), pos: start });
      i = end + 2;
      continue;
    }
    if (IDENT_START.test(c)) {
      while (i < text.length && IDENT_PART.test(text[i]!)) i++;
      tokens.push({ kind: 'ident', text: text.slice(start, i), pos: start });
      continue;
    }
    const p = PUNCT.find((s) => text.startsWith(s, i));
    if (!p) throw new QuerySyntaxError(`unexpected character '${c}'`, i);
    tokens.push({ kind: 'punct', text: p, pos: start });
    i += p.length;
  }
  tokens.push({ kind: 'eof', text: '', pos: text.length });
  return tokens;
}
