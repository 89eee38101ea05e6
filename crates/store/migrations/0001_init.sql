-- Gatehouse store, PostgreSQL backend: one table per record kind (the sled backend's trees).
--
-- Records are serde_json text in `json` columns (`json`, not `jsonb`: it keeps the exact text, so object keys keep
-- their order and strings may hold \u0000, as on sled). What atomic operations and queries need is in real columns.
-- Text key columns use the "C" collation: they order bytewise, as sled keys do, whatever the database's locale.
-- Keys that callers compose with NUL separators or take from user input (documents, rate limits, ephemeral
-- records, login attempts) are bytea, since PostgreSQL text cannot hold a NUL.
-- Times are epoch seconds (bigint), as in the records.

CREATE TABLE users (
    user_id     text COLLATE "C" PRIMARY KEY,
    -- Lower-cased email: the unique, case-insensitive email index.
    email_lower text COLLATE "C" NOT NULL UNIQUE,
    body        json NOT NULL
);

CREATE TABLE authenticators (
    -- Deleting a user deletes its authenticators; saving one for a missing user fails.
    user_id    text COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    id         text COLLATE "C" NOT NULL,
    created_at text COLLATE "C" NOT NULL,
    body       json NOT NULL,
    PRIMARY KEY (user_id, id)
);

CREATE TABLE sessions (
    key        text COLLATE "C" PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL,
    expires_at bigint NOT NULL,
    body       json NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- An authorization code stays after it is spent (used) until its expiry, so a replay is recognised (replayed).
CREATE TABLE codes (
    key        text COLLATE "C" PRIMARY KEY,
    expires_at bigint NOT NULL,
    used       boolean NOT NULL DEFAULT false,
    replayed   boolean NOT NULL DEFAULT false,
    body       json NOT NULL
);
CREATE INDEX codes_expires_at ON codes (expires_at);

-- The used_at column is authoritative: a token is marked used by setting it, and it replaces the body's used_at
-- when a token is read. Revoking deletes.
CREATE TABLE refresh_tokens (
    key        text COLLATE "C" PRIMARY KEY,
    family     text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    client_id  text COLLATE "C" NOT NULL,
    expires_at bigint NOT NULL,
    used_at    bigint,
    body       json NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id, client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE ephemeral (
    namespace  text COLLATE "C" NOT NULL,
    key        bytea NOT NULL,
    expires_at bigint NOT NULL,
    value      bytea NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX ephemeral_expires_at ON ephemeral (expires_at);

CREATE TABLE signing_keys (
    kid        text COLLATE "C" PRIMARY KEY,
    created_at bigint NOT NULL,
    body       json NOT NULL
);

CREATE TABLE login_attempts (
    login bytea NOT NULL,
    ip    bytea NOT NULL,
    body  json NOT NULL,
    PRIMARY KEY (login, ip)
);

-- Token buckets (crate::rate_limit::Bucket); expires_at is when the bucket is full again.
CREATE TABLE rate_limits (
    key        bytea PRIMARY KEY,
    expires_at bigint NOT NULL,
    body       json NOT NULL
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);

-- log_id: 16 hex digits of Unix nanoseconds, then 8 hex digits; sorts by time.
CREATE TABLE logs (
    log_id  text COLLATE "C" PRIMARY KEY,
    kind    text COLLATE "C" NOT NULL,
    user_id text COLLATE "C",
    body    json NOT NULL
);
CREATE INDEX logs_kind ON logs (kind, log_id);
CREATE INDEX logs_user_id ON logs (user_id, log_id);

-- Counters and flags: 'seeded', 'documents_version'.
CREATE TABLE meta (
    key   text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO meta (key, value) VALUES ('documents_version', 0);

CREATE TABLE documents (
    collection text COLLATE "C" NOT NULL,
    key        bytea NOT NULL,
    value      bytea NOT NULL,
    PRIMARY KEY (collection, key)
);

-- Every document write moves documents_version in the writing transaction, so a reader never sees the new version
-- before the write it counts.
CREATE FUNCTION gatehouse_count_document_write() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'documents_version';
    RETURN NULL;
END
$$;
CREATE TRIGGER documents_version AFTER INSERT OR UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION gatehouse_count_document_write();
