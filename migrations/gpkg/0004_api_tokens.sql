-- API tokens (src/auth): the same table and meaning as
-- migrations/postgis/0005_api_tokens.sql. Only the SHA-256 of a token is kept.
-- Append-only: a migration that has been applied is never edited.
-- Timestamps are RFC 3339 UTC text with microseconds, as imgis_layers.updated_at.
CREATE TABLE imgis_api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    hash       TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
    prefix     TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('public', 'intake', 'department', 'admin')),
    department TEXT REFERENCES imgis_departments (code),
    label      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    CHECK ((role = 'department') = (department IS NOT NULL))
);
