import { describe, expect, it } from 'vitest';
import { ipFilterDecision, validateIpFilterRules } from './ip-filter.js';

const rule = (filterName: string, action: string, ipMask: string) => ({ filterName, action, ipMask });

describe('IP filter (protocols-ops §8, checklist 151-160)', () => {
  it('accepts everything with no rules, and IPv6 clients always (the filter is IPv4 only)', () => {
    expect(ipFilterDecision([], '10.0.0.1')).toEqual({ accepted: true, rule: null });
    expect(ipFilterDecision(validateIpFilterRules([rule('all', 'Reject', '0.0.0.0/0')]), '::1').accepted).toBe(true);
  });

  it('lets the first matching rule decide (the worked example and its reversal)', () => {
    const rules = validateIpFilterRules([rule('AcceptMyRange', 'Accept', '192.168.100.0/22'), rule('RejectAll', 'Reject', '0.0.0.0/0')]);
    expect(ipFilterDecision(rules, '192.168.103.255')).toEqual({ accepted: true, rule: 'AcceptMyRange' });
    expect(ipFilterDecision(rules, '::ffff:192.168.101.7').accepted).toBe(true);
    expect(ipFilterDecision(rules, '192.168.104.1')).toEqual({ accepted: false, rule: 'RejectAll' });
    expect(ipFilterDecision(rules, '10.0.0.1').accepted).toBe(false);
    expect(ipFilterDecision([...rules].reverse(), '192.168.100.5').accepted).toBe(false);
  });

  it('matches a single address only itself; no match accepts', () => {
    const rules = validateIpFilterRules([rule('one', 'Reject', '131.107.160.200')]);
    expect(ipFilterDecision(rules, '131.107.160.200').accepted).toBe(false);
    expect(ipFilterDecision(rules, '131.107.160.201')).toEqual({ accepted: true, rule: null });
  });

  it.each([
    [Array.from({ length: 11 }, (_, i) => rule(`r${i}`, 'Accept', '1.2.3.4')), /At most 10/],
    [[rule('Same', 'Accept', '1.2.3.4'), rule('same', 'Reject', '1.2.3.5')], /used twice/],
    [[rule('a'.repeat(129), 'Accept', '1.2.3.4')], /filterName/],
    [[rule('has space', 'Accept', '1.2.3.4')], /filterName/],
    [[rule('lt<', 'Accept', '1.2.3.4')], /filterName/],
    [[rule('x', 'Accept', '1.2.3.4/33')], /ipMask/],
    [[rule('x', 'Accept', '::1')], /ipMask/],
    [[rule('x', 'Accept', '256.1.1.1')], /ipMask/],
    [[rule('x', 'Maybe', '1.2.3.4')], /action/],
    [{}, /array/],
  ])('refuses %j', (rules, message) => {
    expect(() => validateIpFilterRules(rules)).toThrow(message);
  });

  it('takes Allow as Accept', () => {
    expect(validateIpFilterRules([rule('x', 'Allow', '1.2.3.4')])[0]!.action).toBe('Accept');
  });
});
