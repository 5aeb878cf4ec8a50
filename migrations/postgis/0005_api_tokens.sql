-- API tokens (src/auth): who may call what. Only the SHA-256 of a token is kept;
-- the token itself is shown once, by `imgis token create`, and never stored.
-- Append-only: a migration that has been applied is never edited.
CREATE TABLE api_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Hex SHA-256 of the whole token ("imgis_" + 64 hex digits).
    hash       text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    -- The token's first characters in clear, to tell tokens apart in lists.
    prefix     text NOT NULL,
    role       text NOT NULL CHECK (role IN ('public', 'intake', 'department', 'admin')),
    -- The department a specialist's token acts for; only that role has one.
    department text REFERENCES departments (code),
    label      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set once by `imgis token revoke`; a revoked token is kept for the audit trail.
    revoked_at timestamptz,
    CONSTRAINT api_tokens_department_role CHECK ((role = 'department') = (department IS NOT NULL))
);
