-- Revoked access tokens (logout), kept until the token would have expired anyway, so that
-- a logout holds across restarts whatever the key-value store (issue 10, item 9).
-- expires_at is seconds since the epoch.
CREATE TABLE revoked_tokens (
    jti        UUID PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);
