import { describe, expect, it } from 'vitest';
import { compileRoutingCondition, type RoutingMessage } from './index.js';

// the sample sender of devguide §5.5 / scenario 26
const weather = {
  Weather: {
    Temperature: 50,
    Time: '2017-03-09T00:00:00.000Z',
    PrevTemperatures: [20, 30, 40],
    IsEnabled: true,
    Location: { Street: 'One Microsoft Way', City: 'Redmond', State: 'WA' },
    HistoricalData: [
      { Month: 'Feb', Temperature: 40 },
      { Month: 'Jan', Temperature: 30 },
    ],
  },
};

const twin = {
  tags: { deploymentLocation: { building: '43', floor: 1 } },
  properties: {
    desired: { telemetryConfig: { sendFrequency: '5m' }, $version: 1 },
    reported: { telemetryConfig: { sendFrequency: '5m', status: 'success' }, batteryLevel: 55, $version: 4 },
  },
};

function message(over: Partial<RoutingMessage> = {}): RoutingMessage {
  return {
    systemProperties: { contentType: 'application/json', contentEncoding: 'utf-8', connectionDeviceId: 'dev1', enqueuedTime: '2017-05-08T18:55:31.851Z' },
    appProperties: { processingPath: 'hot', Status: 'Active' },
    body: Buffer.from(JSON.stringify(weather), 'utf8'),
    twin,
    ...over,
  };
}

const matches = (q: string, m: RoutingMessage = message()) => compileRoutingCondition(q).matches(m);
const value = (q: string, m: RoutingMessage = message()) => compileRoutingCondition(q).evaluate(m);

describe('routing conditions on properties (checklist E 59–67)', () => {
  it('matches system and application properties, and requires both with AND', () => {
    expect(matches("$contentEncoding = 'UTF-8'")).toBe(false); // values compare exactly; the SDK sent utf-8
    expect(matches("$contentEncoding = 'utf-8'")).toBe(true);
    expect(matches("processingPath = 'hot'")).toBe(true);
    expect(matches(`processingPath = "hot"`)).toBe(true);
    expect(matches("$contentEncoding = 'utf-8' AND processingPath = 'hot'")).toBe(true);
    expect(matches("$contentEncoding = 'utf-8' AND processingPath = 'cold'")).toBe(false);
  });

  it('resolves a $name that is not a system property to the application property of that name', () => {
    const m = message({ appProperties: { $custom: 'x', $contentType: 'shadowed' } });
    expect(matches("$custom = 'x'", m)).toBe(true);
    expect(matches("$contentType = 'application/json'", m)).toBe(true);
    const noType = message({ systemProperties: {}, appProperties: { $contentType: 'fallback' } });
    expect(matches("$contentType = 'fallback'", noType)).toBe(true);
  });

  it('matches the connection device and module ids, content type and enqueued time', () => {
    expect(matches("$connectionDeviceId = 'dev1'")).toBe(true);
    expect(matches("$connectionDeviceId = 'dev2'")).toBe(false);
    expect(matches("$connectionModuleId = 'm1'")).toBe(false);
    expect(matches("$connectionModuleId = 'm1'", message({ systemProperties: { connectionDeviceId: 'dev1', connectionModuleId: 'm1' } }))).toBe(true);
    expect(matches("$contentType = 'application/json'")).toBe(true);
    expect(matches("$enqueuedTime > '2017-01-01T00:00:00Z'")).toBe(true);
    expect(matches("$enqueuedTime < '2017-01-01T00:00:00Z'")).toBe(false);
  });

  it('matches application property names case-insensitively', () => {
    expect(matches("PROCESSINGPATH = 'hot'")).toBe(true);
    expect(matches("status = 'Active'")).toBe(true);
  });
});

describe('body queries (checklist E 68–74)', () => {
  it('evaluates the verbatim body examples', () => {
    expect(matches('$body.Weather.Temperature = 50')).toBe(true);
    expect(matches("$body.Weather.HistoricalData[0].Month = 'Feb'")).toBe(true);
    expect(matches("$body.Weather.HistoricalData[1].Month = 'Feb'")).toBe(false);
    expect(matches('$body.Weather.Temperature = 50 AND $body.Weather.IsEnabled')).toBe(true);
    expect(matches('length($body.Weather.Location.State) = 2')).toBe(true);
    expect(matches("$body.Weather.Temperature = 50 AND processingPath = 'hot'")).toBe(true);
    expect(matches('$body.Weather.PrevTemperatures[2] = 40')).toBe(true);
  });

  it('decodes UTF-16 and UTF-32 bodies with the matching content encoding', () => {
    const text = JSON.stringify(weather);
    const utf16 = Buffer.from(text, 'utf16le');
    const utf32 = Buffer.alloc(text.length * 4);
    [...text].forEach((ch, i) => utf32.writeUInt32LE(ch.codePointAt(0)!, i * 4));
    expect(matches('$body.Weather.Temperature = 50', message({ body: utf16, systemProperties: { contentType: 'application/json', contentEncoding: 'utf-16' } }))).toBe(true);
    expect(matches('$body.Weather.Temperature = 50', message({ body: utf32, systemProperties: { contentType: 'application/json', contentEncoding: 'UTF-32' } }))).toBe(true);
    // the same bytes read as UTF-8 are not JSON
    expect(matches('$body.Weather.Temperature = 50', message({ body: utf16, systemProperties: { contentType: 'application/json', contentEncoding: 'utf-8' } }))).toBe(false);
  });

  it('does not evaluate the body without a JSON content type and a supported encoding', () => {
    const body = Buffer.from(JSON.stringify(weather));
    expect(matches('$body.Weather.Temperature = 50', message({ body, systemProperties: {} }))).toBe(false);
    expect(matches('$body.Weather.Temperature = 50', message({ body, systemProperties: { contentType: 'application/json' } }))).toBe(false);
    expect(matches('$body.Weather.Temperature = 50', message({ body, systemProperties: { contentType: 'text/plain', contentEncoding: 'utf-8' } }))).toBe(false);
    expect(matches('$body.Weather.Temperature = 50', message({ body, systemProperties: { contentType: 'application/json', contentEncoding: 'latin1' } }))).toBe(false);
    expect(value('$body.Weather.Temperature', message({ body, systemProperties: {} }))).toBeUndefined();
  });

  it('still routes a non-JSON body on a property-only condition', () => {
    const m = message({ body: Buffer.from([0xff, 0x00, 0x13]), systemProperties: { contentType: 'application/octet-stream' } });
    expect(matches("processingPath = 'hot'", m)).toBe(true);
    expect(matches('$body.x = 1', m)).toBe(false);
  });
});

describe('twin queries (checklist E 75–79)', () => {
  it('reads tags, desired and reported properties of the sending device', () => {
    expect(matches("$twin.properties.desired.telemetryConfig.sendFrequency = '5m'")).toBe(true);
    expect(matches("$twin.tags.deploymentLocation.building = '43'")).toBe(true);
    expect(matches('$twin.tags.deploymentLocation.floor = 1')).toBe(true);
    expect(matches('$twin.properties.reported.batteryLevel > 50')).toBe(true);
    expect(matches("$body.Weather.Temperature = 50 AND $twin.properties.desired.telemetryConfig.sendFrequency = '5m'")).toBe(true);
  });

  it('never matches without a twin (module messages: module twins are not queryable in routes)', () => {
    expect(matches('$twin.properties.reported.batteryLevel > 50', message({ twin: undefined }))).toBe(false);
  });

  it('reports which conditions need the body and the twin', () => {
    expect(compileRoutingCondition("level = 'x'").references).toEqual({ body: false, twin: false });
    expect(compileRoutingCondition('$body.a = 1 OR $TWIN.tags.x = 1').references).toEqual({ body: true, twin: true });
  });
});

describe('operators (checklist E 80–82)', () => {
  it('evaluates arithmetic', () => {
    expect(value('1 + 2 * 3')).toBe(7);
    expect(value('(1 + 2) * 3')).toBe(9);
    expect(value('10 - 4 - 3')).toBe(3);
    expect(value('7 / 2')).toBe(3.5);
    expect(value('7 % 4')).toBe(3);
    expect(value('-2 * -3')).toBe(6);
    expect(value('$body.Weather.Temperature / 10 = 5')).toBe(true);
    expect(value('1 / 0')).toBeUndefined();
    expect(value("'a' + 1")).toBeUndefined();
    expect(value('0x1F')).toBe(31);
    expect(value('1.5e2')).toBe(150);
  });

  it('evaluates comparisons; != and <> are the same', () => {
    expect(value('1 = 1')).toBe(true);
    expect(value('1 != 2')).toBe(true);
    expect(value('1 <> 2')).toBe(true);
    expect(value('1 <> 1')).toBe(false);
    expect(value('1 < 2')).toBe(true);
    expect(value('2 > 1')).toBe(true);
    expect(value('2 <= 2')).toBe(true);
    expect(value('2 >= 3')).toBe(false);
    expect(value("'abc' < 'abd'")).toBe(true);
    expect(value("1 = '1'")).toBeUndefined(); // different types do not compare
    expect(value('null = null')).toBe(true);
    expect(value("'x' IN ['a', 'x']")).toBe(true);
    expect(value("'x' NIN ['a', 'x']")).toBe(false);
    expect(value('missing IN [1]')).toBeUndefined();
  });

  it('evaluates NOT > AND > OR with parentheses, in three-valued logic', () => {
    expect(value('true OR false AND false')).toBe(true);
    expect(value('(true OR false) AND false')).toBe(false);
    expect(value('NOT false AND true')).toBe(true);
    expect(value('NOT (true AND false)')).toBe(true);
    expect(value('missing = 1 OR true')).toBe(true);
    expect(value('missing = 1 AND false')).toBe(false);
    expect(value('missing = 1 AND true')).toBeUndefined();
    expect(value('NOT (missing = 1)')).toBeUndefined();
    expect(matches('NOT (missing = 1)')).toBe(false);
  });

  it('treats null, undefined, strings and numbers as no match (checklist E 48)', () => {
    expect(matches('null')).toBe(false);
    expect(matches('undefined')).toBe(false);
    expect(matches("'true'")).toBe(false);
    expect(matches('1')).toBe(false);
    expect(matches('$body.Weather')).toBe(false);
  });
});

describe('functions (checklist E 83–91)', () => {
  it('computes the math functions', () => {
    expect(value('ABS(-3)')).toBe(3);
    expect(value('EXP(0)')).toBe(1);
    expect(value('POWER(2, 10)')).toBe(1024);
    expect(value('SQUARE(4)')).toBe(16);
    expect(value('CEILING(1.2)')).toBe(2);
    expect(value('FLOOR(-1.2)')).toBe(-2);
    expect(value('SIGN(-5)')).toBe(-1);
    expect(value('SIGN(0)')).toBe(0);
    expect(value('SIGN(7)')).toBe(1);
    expect(value('SQRT(81)')).toBe(9);
    expect(value('SQRT(-1)')).toBeUndefined();
  });

  it('converts with AS_NUMBER', () => {
    expect(matches("AS_NUMBER('12') = 12")).toBe(true);
    expect(value("AS_NUMBER('abc')")).toBeUndefined();
    expect(matches("AS_NUMBER('abc') = 0")).toBe(false);
    expect(value('AS_NUMBER(5)')).toBe(5);
  });

  it('checks types', () => {
    expect(value('IS_ARRAY($body.Weather.PrevTemperatures)')).toBe(true);
    expect(value('IS_ARRAY($body.Weather)')).toBe(false);
    expect(value('IS_BOOL($body.Weather.IsEnabled)')).toBe(true);
    expect(value('IS_DEFINED($body.Weather.Nope)')).toBe(false);
    expect(value('IS_DEFINED($body.Weather)')).toBe(true);
    expect(value('IS_NULL(null)')).toBe(true);
    expect(value('IS_NUMBER($body.Weather.Temperature)')).toBe(true);
    expect(value('IS_OBJECT($body.Weather.Location)')).toBe(true);
    expect(value('IS_STRING(processingPath)')).toBe(true);
    expect(value('IS_PRIMITIVE(null)')).toBe(true);
    expect(value('IS_PRIMITIVE($body.Weather)')).toBe(false);
    expect(value('IS_PRIMITIVE(undefined)')).toBe(false);
  });

  it('handles strings', () => {
    expect(value("CONCAT('a', 'b', 'c')")).toBe('abc');
    expect(value("LENGTH('héllo')")).toBe(5);
    expect(value("LOWER('AbC')")).toBe('abc');
    expect(value("UPPER('AbC')")).toBe('ABC');
    expect(value("SUBSTRING('abcdef', 2)")).toBe('cdef');
    expect(value("SUBSTRING('abcdef', 2, 2)")).toBe('cd');
    expect(value("INDEX_OF('abc', 'z')")).toBe(-1);
    expect(value("INDEX_OF('abc', 'b')")).toBe(1);
    expect(value("STARTS_WITH('abc', 'ab')")).toBe(true);
    expect(value("ENDS_WITH('abc', 'bc')")).toBe(true);
    expect(value("CONTAINS('abc', 'x')")).toBe(false);
  });

  it('accepts function names in any case', () => {
    expect(value("length('abc')")).toBe(3);
    expect(value("Length('abc')")).toBe(3);
    expect(value("lower('X') = 'x'")).toBe(true);
  });
});
