import { describe, expect, it } from 'vitest';
import { fromSubjectToken, subjectToken, subjects } from './subjects.js';

describe('subject tokens', () => {
  it.each(['dev1', 'a.b', '*', '>', "x-._+%#*?!(),=@$'", 'ünï', 'has space'])('%j round-trips and is one safe token', (id) => {
    const t = subjectToken(id);
    expect(t).toMatch(/^[A-Za-z0-9_%-]+$/);
    expect(fromSubjectToken(t)).toBe(id);
  });

  it('keeps distinct ids distinct', () => {
    expect(subjectToken('a.b')).not.toBe(subjectToken('a_b'));
    expect(subjectToken('%2E')).not.toBe(subjectToken('.'));
  });

  it('builds lifecycle subjects inside the EVENTS stream', () => {
    expect(subjects.lifecycle('localhost', 'd.1')).toBe('evt.localhost.lifecycle.d%2E1');
    expect(subjects.lifecycle('localhost', 'd', 'm')).toBe('evt.localhost.lifecycle.d.m');
  });
});

describe('partitionOf', () => {
  it('is stable, in range, and spreads devices', async () => {
    const { partitionOf } = await import('./subjects.js');
    expect(partitionOf('dev1', 4)).toBe(partitionOf('dev1', 4));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[partitionOf(`device-${i}`, 4)]! += 1;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe('parseIdentityChanged', () => {
  it('reads back what subjects.identityChanged wrote', async () => {
    const { parseIdentityChanged, subjects: sub } = await import('./subjects.js');
    expect(parseIdentityChanged(sub.identityChanged('h-1', 'a.b*c'))).toEqual({ hub: 'h-1', deviceId: 'a.b*c' });
    expect(parseIdentityChanged('evt.h.lifecycle.d')).toBeUndefined();
  });
});

describe('modulesOf', () => {
  it('prefixes every module identity of the device and nothing else', async () => {
    const { subjects: sub } = await import('./subjects.js');
    expect(sub.identity('h', 'd', 'm').startsWith(sub.modulesOf('h', 'd'))).toBe(true);
    expect(sub.identity('h', 'd2', 'm').startsWith(sub.modulesOf('h', 'd'))).toBe(false);
    expect(sub.identity('h', 'd').startsWith(sub.modulesOf('h', 'd'))).toBe(false);
  });
});
