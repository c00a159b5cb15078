import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// "Every value documented": each leaf of the chart's values.yaml is named by a `## @param` line
// (`services.*.x` stands for every service; list items are `list[].key`), and every @param names
// a value that exists — so the README table generated from them is complete and not stale.

const text = readFileSync(resolve(import.meta.dirname, '../../charts/openiothub/values.yaml'), 'utf8');
const params = [...text.matchAll(/^## @param (\S+) /gm)].map((m) => m[1]!);
/** A @param as a pattern over leaf paths: `*` is one key; it also covers what lies below it. */
const matcher = (param: string) => new RegExp(`^${param.replace(/[.[\]]/g, (c) => `\\${c}`).replace(/\*/g, '[^.]+')}(\\..+|\\[\\].*)?$`);

function leaves(v: unknown, path: string): string[] {
  if (Array.isArray(v)) return v.length === 0 || typeof v[0] !== 'object' ? [path] : [...new Set(v.flatMap((item) => leaves(item, `${path}[]`)))];
  if (v && typeof v === 'object' && Object.keys(v).length > 0) return Object.entries(v).flatMap(([k, child]) => leaves(child, path ? `${path}.${k}` : k));
  return [path];
}

describe('the chart values', () => {
  it('are each documented by a @param, and every @param names a value', () => {
    const all = leaves(parse(text), '');
    expect(all.length).toBeGreaterThan(60);
    const undocumented = all.filter((leaf) => !params.some((p) => matcher(p).test(leaf)));
    expect(undocumented).toEqual([]);
    const stale = params.filter((p) => !all.some((leaf) => matcher(p).test(leaf)));
    expect(stale).toEqual([]);
  });
});
