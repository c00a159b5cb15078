import { describe, expect, it } from 'vitest';
import { parseResourceUri, scopeCovers } from './resource.js';

describe('resource scope', () => {
  it.each([
    ['hub.net/devices/dev', ['devices', 'dev'], true],
    ['hub.net/devices/dev', ['devices', 'dev1'], false], // segment prefix, not string prefix
    ['hub.net/devices/dev', ['devices', 'dev', 'messages', 'events'], true],
    ['hub.net/devices', ['devices', 'anyone'], true],
    ['hub.net', ['devices', 'x'], true],
    ['hub.net/devices/dev1/modules/m1', ['devices', 'dev1'], false],
    ['hub.net/devices/DEV1', ['devices', 'dev1'], true],
    ['hub.net:8883/devices/dev1', ['devices', 'dev1'], true],
  ] as const)('%s covers %j → %s', (uri, path, expected) => {
    expect(scopeCovers(parseResourceUri(uri), path)).toBe(expected);
  });

  it('strips scheme and port and lower-cases the host', () => {
    expect(parseResourceUri('https://MyHub.net:443/devices/a/')).toEqual({ host: 'myhub.net', segments: ['devices', 'a'] });
  });
});
