-- The plugin catalog: the binaries the core launches, each pinned to its
-- checksum. A binary whose SHA-256 differs is refused.
CREATE TABLE atrium.plugins (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9]{1,30}$'),
    version       text NOT NULL,
    file          text NOT NULL CHECK (file <> '' AND file !~ '/'),
    sha256        bytea NOT NULL CHECK (length(sha256) = 32),
    required      boolean NOT NULL DEFAULT false,
    registered_at timestamptz NOT NULL DEFAULT now()
);
