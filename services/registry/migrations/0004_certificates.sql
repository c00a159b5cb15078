-- CA certificates of a hub (protocols-ops §3.2): uploaded Unverified, verified by proof of
-- possession (a certificate signed by the CA whose subject CN is the verification code).
CREATE TABLE registry.certificates (
  hub               text NOT NULL REFERENCES registry.hubs (name) ON DELETE CASCADE,
  name              text NOT NULL,
  pem               text NOT NULL,
  subject           text NOT NULL,
  thumbprint        text NOT NULL,
  expiry            timestamptz NOT NULL,
  is_verified       boolean NOT NULL DEFAULT false,
  verification_code text,
  etag_version      bigint NOT NULL DEFAULT 1,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (hub, name)
);
