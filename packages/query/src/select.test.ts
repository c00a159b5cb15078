import { describe, expect, it } from 'vitest';
import { parseSelect, QuerySyntaxError } from './index.js';

const syntaxError = (q: string) => {
  try {
    parseSelect(q);
  } catch (err) {
    if (err instanceof QuerySyntaxError) return err;
    throw err;
  }
  throw new Error(`parsed: ${q}`);
};

describe('SELECT statements of twin queries (checklist O)', () => {
  it('parses the canonical examples of devguide §16.2', () => {
    expect(parseSelect('SELECT * FROM devices')).toMatchObject({ projection: '*', from: 'devices', groupBy: [], aggregated: false });
    const q = parseSelect("SELECT * FROM devices WHERE tags.location.region = 'US' AND properties.reported.telemetryConfig.sendFrequencyInSecs >= 60");
    expect(q.where).toMatchObject({ kind: 'binary', op: 'AND' });
    expect(parseSelect("select * from devices.modules where properties.reported.status = 'scanning'").from).toBe('devices.modules');
    expect(parseSelect("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'myJobId'").from).toBe('devices.jobs');
  });

  it('names projections by their last segment or alias, and unnamed aggregates $1, $2', () => {
    expect(parseSelect("SELECT LastActivityTime FROM devices WHERE status = 'enabled'").projection).toMatchObject([{ kind: 'path', alias: 'LastActivityTime' }]);
    const g = parseSelect('SELECT properties.reported.telemetryConfig.status AS status, COUNT() AS numberOfDevices FROM devices GROUP BY properties.reported.telemetryConfig.status');
    expect(g.projection).toMatchObject([{ kind: 'path', alias: 'status' }, { kind: 'aggregate', fn: 'COUNT', alias: 'numberOfDevices' }]);
    expect(g.aggregated).toBe(true);
    expect(parseSelect('SELECT COUNT(), AVG(properties.reported.t) FROM devices').projection).toMatchObject([{ alias: '$1' }, { fn: 'AVG', alias: '$2' }]);
  });

  it('reads TOP and escaped reserved words', () => {
    expect(parseSelect('SELECT TOP 2 * FROM devices').top).toBe(2);
    const q = parseSelect("SELECT * FROM devices WHERE tags.[[group]].name = 'some_value'");
    expect(q.where).toMatchObject({ left: { root: 'tags', segments: ['group', 'name'] } });
  });

  it('refuses what IoT Hub refuses, with the position', () => {
    expect(syntaxError("SELECT * WHERE deviceId = 'a'").expected).toBe('FROM');
    expect(syntaxError('SELECT deviceId FROM devices.jobs').position).toBe(21);
    expect(syntaxError('SELECT COUNT() FROM devices.jobs').detail).toMatch(/only SELECT \*/);
    expect(syntaxError('SELECT * FROM devices.modules GROUP BY deviceId').detail).toMatch(/only on devices/);
    expect(syntaxError('SELECT tags.x, COUNT() FROM devices GROUP BY tags.y').detail).toMatch(/neither aggregated nor in GROUP BY/);
    expect(syntaxError("SELECT * FROM devices WHERE LENGTH(deviceId) = 3").detail).toMatch(/not available in twin queries/);
    expect(syntaxError('SELECT * FROM things').expected).toMatch(/devices/);
    expect(syntaxError("SELECT * FROM devices WHERE deviceId = 'a'; DROP TABLE twin.twins").position).toBe(42);
    expect(syntaxError('SELECT TOP -1 * FROM devices').expected).toMatch(/non-negative integer/);
  });
});
