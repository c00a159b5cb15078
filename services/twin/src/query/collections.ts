import type { PathRef, SqlParams, SqlSchema, SqlValue } from '@openiothub/query';

/**
 * How `devices` and `devices.modules` rows hold the twin properties a query names. Rows join the
 * registry's identities (schema `registry`, same database; read-only here: see docs/design-notes.md
 * "Twin queries read the registry's tables") with the twin of the identity's current generation;
 * an identity whose twin was never written has no twin row and shows the fresh twin.
 *
 * Root property names match case-insensitively (`LastActivityTime` ≡ `lastActivityTime`, as the
 * IoT Hub examples write them); names inside tags and properties match exactly.
 */
export interface Collection {
  /** FROM … JOIN …, with `$hub` standing for the hub parameter. */
  readonly from: string;
  /** The column holding the hub (the tenant). */
  readonly hub: string;
  /** The row key, in paging order. */
  readonly key: readonly string[];
  readonly schema: SqlSchema;
  /** The columns a twin is rendered from. */
  readonly columns: string;
}

const NEVER = "'0001-01-01T00:00:00Z'";
/** A timestamptz as JavaScript's toISOString() writes it, the form twins show. */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const isoOr = (col: string, fallback: string) => `to_jsonb(COALESCE(${iso(col)}, ${fallback}))`;

function schemaFor(x: 'd' | 'm'): SqlSchema {
  const text: Record<string, string> = {
    deviceid: `${x}.device_id`,
    status: 'd.status',
    connectionstate: `${x}.connection_state`,
    authenticationtype: `${x}.auth_type`,
    ...(x === 'm' ? { moduleid: 'm.module_id' } : {}),
  };
  const scalar: Record<string, string> = {
    statusreason: "to_jsonb(NULLIF(d.status_reason, ''))",
    statusupdatetime: `to_jsonb(${iso('d.status_updated_time')})`,
    lastactivitytime: isoOr(`${x}.last_activity_time`, NEVER),
    cloudtodevicemessagecount: `to_jsonb(${x}.c2d_message_count)`,
    version: 'to_jsonb(COALESCE(t.version, 1))',
    etag: "to_jsonb(encode(int8send(COALESCE(t.etag_version, 1)), 'base64'))",
    deviceetag: `to_jsonb(encode(convert_to(${x}.version::text, 'UTF8'), 'base64'))`,
    modelid: "to_jsonb(COALESCE(t.model_id, ''))",
  };
  const sections = (name: string) => ({ values: `t.${name}`, meta: `t.${name}_meta`, version: `t.${name}_version` });
  return {
    field(path: PathRef, params: SqlParams): SqlValue | undefined {
      const root = path.root.toLowerCase();
      const segs = path.segments;
      if (segs.length === 0 && text[root]) return { sql: text[root], kind: 'text' };
      if (segs.length === 0 && scalar[root]) return { sql: scalar[root], kind: 'jsonb' };
      const at = (column: string, rest: readonly (string | number)[]) =>
        rest.length === 0 ? `COALESCE(${column}, '{}'::jsonb)` : `(${column} #> ${params.add(rest.map(String))}::text[])`;
      if (root === 'x509thumbprint') {
        if (segs.length === 0) return { sql: `jsonb_build_object('primaryThumbprint', NULLIF(${x}.primary_thumbprint, ''), 'secondaryThumbprint', NULLIF(${x}.secondary_thumbprint, ''))`, kind: 'jsonb' };
        const which = segs.length === 1 ? String(segs[0]).toLowerCase() : '';
        if (which === 'primarythumbprint') return { sql: `to_jsonb(NULLIF(${x}.primary_thumbprint, ''))`, kind: 'jsonb' };
        if (which === 'secondarythumbprint') return { sql: `to_jsonb(NULLIF(${x}.secondary_thumbprint, ''))`, kind: 'jsonb' };
        return undefined;
      }
      if (root === 'capabilities' && x === 'd') {
        if (segs.length === 0) return { sql: "jsonb_build_object('iotEdge', d.iot_edge)", kind: 'jsonb' };
        return segs.length === 1 && String(segs[0]).toLowerCase() === 'iotedge' ? { sql: 'to_jsonb(d.iot_edge)', kind: 'jsonb' } : undefined;
      }
      if (root === 'tags') return { sql: at('t.tags', segs), kind: 'jsonb' };
      // configurations.[[firmware285]].status = 'Applied' (automatic device configurations)
      if (root === 'configurations') return { sql: at('t.configurations', segs), kind: 'jsonb' };
      if (root === 'properties') {
        if (segs.length === 0) return { sql: `'{}'::jsonb`, kind: 'jsonb' }; // defined; never equal to anything
        const section = String(segs[0]).toLowerCase();
        if (section !== 'desired' && section !== 'reported') return undefined;
        const s = sections(section);
        const rest = segs.slice(1);
        if (rest[0] === '$version' && rest.length === 1) return { sql: `to_jsonb(COALESCE(${s.version}, 1))`, kind: 'jsonb' };
        if (rest[0] === '$metadata') return { sql: at(s.meta, rest.slice(1)), kind: 'jsonb' };
        return { sql: at(s.values, rest), kind: 'jsonb' };
      }
      return undefined;
    },
    container(path: PathRef) {
      const segs = path.segments;
      if (segs.some((s) => typeof s === 'number')) return undefined;
      if (path.root.toLowerCase() === 'tags') return { column: 't.tags', segments: segs as string[] };
      return undefined;
    },
  };
}

const TWIN_COLUMNS =
  't.tags, t.desired, t.desired_meta, t.desired_version, t.reported, t.reported_meta, t.reported_version, t.version, t.etag_version, t.model_id, t.configurations';

export const devices: Collection = {
  from:
    'registry.devices d LEFT JOIN twin.twins t' +
    " ON t.hub = d.hub AND t.device_id = d.device_id AND t.module_id = '' AND t.generation_id = d.generation_id",
  hub: 'd.hub',
  key: ['d.device_id'],
  schema: schemaFor('d'),
  columns:
    "d.device_id, '' AS module_id, d.generation_id, d.version AS identity_version, d.status, d.status_reason, d.status_updated_time, d.connection_state," +
    ' d.last_activity_time, d.c2d_message_count, d.auth_type, d.primary_thumbprint, d.secondary_thumbprint, d.iot_edge, d.created_at, ' +
    TWIN_COLUMNS,
};

export const modules: Collection = {
  from:
    'registry.modules m JOIN registry.devices d ON d.hub = m.hub AND d.device_id = m.device_id' +
    ' LEFT JOIN twin.twins t ON t.hub = m.hub AND t.device_id = m.device_id AND t.module_id = m.module_id AND t.generation_id = m.generation_id',
  hub: 'm.hub',
  key: ['m.device_id', 'm.module_id'],
  schema: schemaFor('m'),
  columns:
    'm.device_id, m.module_id, m.generation_id, m.version AS identity_version, d.status, d.status_reason, d.status_updated_time, m.connection_state,' +
    ' m.last_activity_time, m.c2d_message_count, m.auth_type, m.primary_thumbprint, m.secondary_thumbprint, false AS iot_edge, d.created_at, ' +
    TWIN_COLUMNS,
};
