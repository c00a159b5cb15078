-- File upload (devguide §8). The service-bound queue table holds both queues a hub has: C2D
-- feedback ('feedback') and file-upload notifications ('file'); same lock and delivery semantics.
ALTER TABLE messaging.feedback ADD COLUMN queue text NOT NULL DEFAULT 'feedback' CHECK (queue IN ('feedback', 'file'));
CREATE INDEX feedback_queue ON messaging.feedback (hub, queue, seq);

-- A hub's file-upload settings (ARM-shaped JSON); a hub without a row uses the defaults and the
-- deployment's default storage (FILE_UPLOAD_CONNECTION_STRING).
CREATE TABLE messaging.file_upload_settings (
  hub text PRIMARY KEY,
  doc jsonb NOT NULL
);

-- Uploads a device started (SAS handed out) and has not yet reported (at most 10 per device).
CREATE TABLE messaging.file_uploads (
  hub            text NOT NULL,
  correlation_id text NOT NULL,
  device_id      text NOT NULL,
  blob_name      text NOT NULL,
  container_name text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  PRIMARY KEY (hub, correlation_id)
);
CREATE INDEX file_uploads_device ON messaging.file_uploads (hub, device_id, expires_at);
