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
