-- Twin queries filter on tags: `tags.location.region = 'US'` adds `t.tags @> '{"location":{"region":"US"}}'`
-- beside the exact test (packages/query/src/sql.ts), which this index answers without a scan.
CREATE INDEX twins_tags_gin ON twin.twins USING gin (tags jsonb_path_ops);
