import { describe, expect, it } from 'vitest';
import { parseExpression, QuerySyntaxError } from './index.js';

function syntaxError(text: string, options?: Parameters<typeof parseExpression>[1]): QuerySyntaxError {
  try {
    parseExpression(text, options);
  } catch (err) {
    if (err instanceof QuerySyntaxError) return err;
    throw err;
  }
  throw new Error(`expected a syntax error for ${text}`);
}

describe('parseExpression', () => {
  it('builds the tree with precedence NOT > AND > OR and arithmetic over comparison', () => {
    const e = parseExpression("a = 1 OR NOT b = 2 AND c + 1 * 2 > 3");
    expect(e).toMatchObject({
      kind: 'binary',
      op: 'OR',
      left: { op: '=', left: { kind: 'path', root: 'a' } },
      right: { op: 'AND', left: { kind: 'unary', op: 'NOT' }, right: { op: '>', left: { op: '+', right: { op: '*' } } } },
    });
  });

  it('parses paths with array indexes and [[escaped]] names', () => {
    expect(parseExpression('$body.a[3].b')).toMatchObject({ kind: 'path', root: '$body', segments: ['a', 3, 'b'] });
    expect(parseExpression('tags.[[my-tag]] = 1')).toMatchObject({ left: { root: 'tags', segments: ['my-tag'] } });
  });

  it('decodes string escapes in both quote styles', () => {
    expect(parseExpression(String.raw`'it\'s \u0041\\'`)).toMatchObject({ kind: 'literal', value: "it's A\\" });
    expect(parseExpression(String.raw`"say \"hi\""`)).toMatchObject({ kind: 'literal', value: 'say "hi"' });
  });

  it('reports the position and the expected token', () => {
    const e1 = syntaxError("level = 'storage' AND");
    expect(e1.position).toBe(21);
    expect(e1.expected).toMatch(/value/);
    const e2 = syntaxError("level = = 'x'");
    expect(e2.position).toBe(8);
    const e3 = syntaxError("(a = 1");
    expect(e3.position).toBe(6);
    expect(e3.expected).toBe("')'");
    const e4 = syntaxError("a = 'open");
    expect(e4.position).toBe(4);
    expect(e4.message).toMatch(/unterminated string/);
    expect(syntaxError('a = 1 b').position).toBe(6);
    expect(syntaxError('a ~ 1').position).toBe(2);
  });

  it('rejects unknown functions, wrong arity and functions outside the dialect', () => {
    expect(syntaxError('NOPE(1)').message).toMatch(/unknown function NOPE/);
    expect(syntaxError("SUBSTRING('a')").message).toMatch(/SUBSTRING takes 2 to 3/);
    expect(syntaxError("LENGTH('a', 'b')").message).toMatch(/LENGTH takes 1/);
    expect(syntaxError("LENGTH('a')", { dialect: 'twin' }).message).toMatch(/not available in twin queries/);
    expect(parseExpression('IS_DEFINED(tags.x)', { dialect: 'twin' })).toMatchObject({ kind: 'call', name: 'IS_DEFINED' });
  });

  it('refuses nesting deep enough to blow the stack', () => {
    expect(syntaxError('('.repeat(10_000) + '1' + ')'.repeat(10_000)).message).toMatch(/nested deeper/);
    expect(syntaxError('NOT '.repeat(10_000) + 'true').message).toMatch(/nested deeper/);
    expect(syntaxError('-'.repeat(10_000) + '1').message).toMatch(/nested deeper/);
  });

  it('never throws anything but QuerySyntaxError on random input (fuzz)', () => {
    // deterministic PRNG so a failure reproduces
    let seed = 0x2f6b1a;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 0x100000000);
    const atoms = ['$body', '.', 'a', '[', ']', '[[', ']]', '0', '1.5', '0x', '"', "'", '\\', '\\u12', '(', ')', ',', 'AND', 'OR', 'NOT', 'IN', 'NIN', '=', '<>', '!=', '<', '>=', '+', '-', '*', '/', '%', 'LENGTH', 'SUBSTRING', 'true', 'null', 'undefined', ' ', '$twin', 'é', '\u0000', 'e5', '@'];
    let parsed = 0;
    for (let n = 0; n < 20_000; n++) {
      let text = '';
      const len = Math.floor(rand() * 14);
      for (let k = 0; k < len; k++) text += rand() < 0.85 ? atoms[Math.floor(rand() * atoms.length)] : String.fromCharCode(Math.floor(rand() * 0x3000));
      try {
        parseExpression(text);
        parsed++;
      } catch (err) {
        if (!(err instanceof QuerySyntaxError)) throw new Error(`${JSON.stringify(text)} threw ${String(err)}`);
        expect(err.position).toBeGreaterThanOrEqual(0);
        expect(err.position).toBeLessThanOrEqual(text.length);
      }
    }
    // the generator produces valid expressions too, so both paths are exercised
    expect(parsed).toBeGreaterThan(100);
  });
});
