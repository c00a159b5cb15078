-- Device Provisioning Service. An instance (ID scope) links hubs and owns its enrollments,
-- enrollment groups, registration records and the operations devices poll.
CREATE TABLE provisioning.instances (
  name              text PRIMARY KEY,
  id_scope          text NOT NULL UNIQUE,
  allocation_policy text NOT NULL DEFAULT 'hashed',
  -- [{hub, hostName, allocationWeight, applyAllocationPolicy}]
  linked_hubs       jsonb NOT NULL DEFAULT '[]',
  -- [{keyName, primaryKey, secondaryKey, rights}]
  policies          jsonb NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now()
);

-- Individual enrollments (kind 'individual', id = registration id) and enrollment groups
-- (kind 'group', id = enrollment group id), stored as their REST documents.
CREATE TABLE provisioning.enrollments (
  instance     text NOT NULL REFERENCES provisioning.instances (name) ON DELETE CASCADE,
  kind         text NOT NULL CHECK (kind IN ('individual', 'group')),
  id           text NOT NULL,
  doc          jsonb NOT NULL,
  etag_version bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (instance, kind, id)
);

-- One record per registration id: the DeviceRegistrationState document plus what allocation needs.
CREATE TABLE provisioning.registrations (
  instance        text NOT NULL REFERENCES provisioning.instances (name) ON DELETE CASCADE,
  registration_id text NOT NULL,
  enrollment_kind text NOT NULL,
  enrollment_id   text NOT NULL,
  -- the hub (tenant) the device lives in now, empty when not assigned
  hub             text NOT NULL DEFAULT '',
  device_id       text NOT NULL DEFAULT '',
  doc             jsonb NOT NULL,
  etag_version    bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (instance, registration_id)
);
CREATE INDEX registrations_by_enrollment ON provisioning.registrations (instance, enrollment_kind, enrollment_id, registration_id);
CREATE INDEX registrations_by_hub ON provisioning.registrations (instance, hub);
CREATE INDEX registrations_by_device ON provisioning.registrations (instance, device_id);

-- Answers to devices polling an operation; kept for a day.
CREATE TABLE provisioning.operations (
  operation_id    text PRIMARY KEY,
  instance        text NOT NULL,
  registration_id text NOT NULL,
  result          jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operations_created ON provisioning.operations (created_at);

-- Manual failovers in force: the device goes back to original_hub at revert_at.
CREATE TABLE provisioning.failovers (
  instance        text NOT NULL,
  registration_id text NOT NULL,
  original_hub    text NOT NULL,
  failover_hub    text NOT NULL,
  revert_at       timestamptz NOT NULL,
  PRIMARY KEY (instance, registration_id),
  FOREIGN KEY (instance, registration_id) REFERENCES provisioning.registrations (instance, registration_id) ON DELETE CASCADE
);
CREATE INDEX failovers_due ON provisioning.failovers (revert_at);
