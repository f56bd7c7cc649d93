-- Console users with their roles, and their login sessions. Passwords are stored only as
-- scrypt hashes (alerts/passwords.py), session tokens only as their SHA-256: a copy of this
-- database lets nobody log in.

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    username       text        NOT NULL UNIQUE,   -- lower case (alerts/users.py normalises)
    password_hash  text        NOT NULL,          -- scrypt$n$r$p$salt$hash
    role           text        NOT NULL,          -- operator | agency | bureau | admin
    agency_code    text,                          -- the party code of the agency (role agency only)
    display_name   text        NOT NULL DEFAULT '',
    active         boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (role IN ('operator', 'agency', 'bureau', 'admin')),
    -- An agency user without its agency would see nothing, or (worse) be mistaken for no filter.
    CHECK ((role = 'agency') = (agency_code IS NOT NULL))
);

CREATE TABLE sessions (
    token_hash    bytea       PRIMARY KEY,        -- SHA-256 of the cookie's random token
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,           -- slides forward with use, up to a maximum age
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
