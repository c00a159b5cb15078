import { ArgumentInvalidError } from '@openiothub/errors';

/** One IP filter rule (ARM `properties.ipFilterRules[]`, protocols-ops §8). */
export interface IpFilterRule {
  readonly filterName: string;
  readonly action: 'Accept' | 'Reject';
  readonly ipMask: string;
}

export const MAX_IP_FILTER_RULES = 10;
const NAME = /^[A-Za-z0-9\-:/\\.+%_#*?!(),=@;']{1,128}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4ToInt(ip: string): number | undefined {
  const m = IPV4.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1, 5).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

/** `a.b.c.d` or `a.b.c.d/n` → network and mask as unsigned 32-bit numbers, or undefined. */
function parseMask(mask: string): { network: number; bits: number } | undefined {
  const [ip, prefix, extra] = mask.split('/');
  if (extra !== undefined || ip === undefined) return undefined;
  const addr = ipv4ToInt(ip);
  if (addr === undefined) return undefined;
  if (prefix !== undefined && !/^\d{1,2}$/.test(prefix)) return undefined;
  const bits = prefix === undefined ? 32 : Number(prefix);
  if (bits > 32) return undefined;
  return { network: addr, bits };
}

/**
 * Validate and normalise a rule list: at most 10, names unique ignoring case (1-128 of the allowed
 * characters), action Accept or Reject (`Allow` taken as Accept, A-16), ipMask an IPv4 address or
 * CIDR. Throws ArgumentInvalidError naming the first problem.
 */
export function validateIpFilterRules(input: unknown): IpFilterRule[] {
  if (!Array.isArray(input)) throw new ArgumentInvalidError('ipFilterRules must be an array of {filterName, action, ipMask}.');
  if (input.length > MAX_IP_FILTER_RULES) throw new ArgumentInvalidError(`At most ${MAX_IP_FILTER_RULES} IP filter rules are allowed.`);
  const names = new Set<string>();
  return input.map((raw, i) => {
    const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const filterName = r['filterName'];
    if (typeof filterName !== 'string' || !NAME.test(filterName)) {
      throw new ArgumentInvalidError(`Rule ${i + 1}: filterName must be 1-128 letters, digits or - : / \\ . + % _ # * ? ! ( ) , = @ ; '.`);
    }
    if (names.has(filterName.toLowerCase())) throw new ArgumentInvalidError(`Rule ${i + 1}: filterName "${filterName}" is used twice (names are case-insensitive).`);
    names.add(filterName.toLowerCase());
    const action = typeof r['action'] === 'string' ? r['action'].toLowerCase() : '';
    if (action !== 'accept' && action !== 'reject' && action !== 'allow') throw new ArgumentInvalidError(`Rule ${i + 1}: action must be Accept or Reject.`);
    const ipMask = r['ipMask'];
    if (typeof ipMask !== 'string' || !parseMask(ipMask)) throw new ArgumentInvalidError(`Rule ${i + 1}: ipMask must be an IPv4 address or CIDR block such as 192.168.100.0/22.`);
    return { filterName, action: action === 'reject' ? 'Reject' : 'Accept', ipMask };
  });
}

/** The client address as IPv4 (`::ffff:a.b.c.d` unwrapped), or undefined for IPv6 and anything else. */
export function clientIpv4(remoteAddress: string | undefined): string | undefined {
  if (!remoteAddress) return undefined;
  const ip = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
  return ipv4ToInt(ip) === undefined ? undefined : ip;
}

/**
 * The first rule whose mask holds the address decides; no match (or no rules, or an IPv6 client:
 * the filter is IPv4 only) accepts. Returns the decision and the rule that made it.
 */
export function ipFilterDecision(rules: readonly IpFilterRule[], remoteAddress: string | undefined): { accepted: boolean; rule: string | null } {
  const ip = clientIpv4(remoteAddress);
  if (ip === undefined || rules.length === 0) return { accepted: true, rule: null };
  const addr = ipv4ToInt(ip)!;
  for (const r of rules) {
    const m = parseMask(r.ipMask);
    if (!m) continue;
    const mask = m.bits === 0 ? 0 : (0xffffffff << (32 - m.bits)) >>> 0;
    if (((addr & mask) >>> 0) === ((m.network & mask) >>> 0)) return { accepted: r.action === 'Accept', rule: r.filterName };
  }
  return { accepted: true, rule: null };
}
