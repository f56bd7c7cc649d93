-- Who did what to which console user, and when: every creation, password reset, disabling and
-- enabling, by the console's administrator (actor: their username) or on the command line
-- (actor: "semon users (<system user>)"). The username, not a reference: the record outlives
-- any change to the user.

CREATE TABLE user_events (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    username  text        NOT NULL,
    action    text        NOT NULL,
    detail    jsonb       NOT NULL DEFAULT '{}',   -- e.g. {"role": "agency", "agency": "XNTJS"} at creation
    CHECK (action IN ('created', 'password_reset', 'disabled', 'enabled'))
);
CREATE INDEX user_events_by_time ON user_events (at DESC, id DESC);
CREATE INDEX user_events_by_user ON user_events (username, at DESC);
