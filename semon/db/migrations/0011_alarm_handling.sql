-- An operator's handling of an alarm that is not an entrapment (issue 15): acknowledged once
-- (who, when), and shelved for a while with a reason (hidden from its desk's list until
-- shelved_until; an unshelve sets shelved_until to the moment it ended, so the last shelving
-- stays on the row). Entrapments are worked through their incidents and never shelved.
ALTER TABLE alarms
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN acknowledged_by text,
    ADD COLUMN shelved_until   timestamptz,
    ADD COLUMN shelved_by      text,
    ADD COLUMN shelved_reason  text,
    ADD CONSTRAINT alarms_acknowledged_by CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
    ADD CONSTRAINT alarms_shelved_with_reason CHECK (shelved_until IS NULL OR (shelved_by IS NOT NULL
                                                                               AND shelved_reason IS NOT NULL));
