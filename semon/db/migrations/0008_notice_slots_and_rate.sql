-- The notice scan's memory (registry/notices.py): what each schedule, unit and party was last
-- given, so that the daily scan reads only what changed since, not every unit in its notice
-- window. The unique notice key still decides what exists; the memory only decides what to read.
-- And the inspection rate's own figures in the daily snapshots (registry/rate.py).

-- The last notice slot a schedule was given, and the day its owed slot changes next.
ALTER TABLE equipment_schedules
    ADD COLUMN notice_due  date,     -- the due date the scan settled the schedule for; NULL: not since it changed
    ADD COLUMN notice_kind text,     -- the last slot given for notice_due: due | overdue; NULL: none (yet)
    ADD COLUMN notice_week integer,  -- overdue: the week of that slot (1 from the day after the due date)
    ADD COLUMN notice_next date,     -- the day the owed slot changes next (overdue, a new week); NULL: on no day
    ADD CONSTRAINT equipment_schedules_notice_kind CHECK (notice_kind IN ('due', 'overdue'));

-- Read by the scan: schedules never settled, by due date (their notice window opens) ...
CREATE INDEX equipment_schedules_notice_unsettled ON equipment_schedules (next_due) WHERE notice_due IS NULL;
-- ... schedules whose owed slot changes on a given day ...
CREATE INDEX equipment_schedules_notice_next ON equipment_schedules (notice_next) WHERE notice_next IS NOT NULL;
-- ... and schedules whose due date moved since they were settled (an inspection, a correction).
CREATE INDEX equipment_schedules_notice_moved ON equipment_schedules (registration_code)
    WHERE notice_due IS NOT NULL AND notice_due IS DISTINCT FROM next_due;

-- What a unit's notices depend on, as the scan last saw it: counted (in use and not exempt, 1/0),
-- owner (使用单位), maintenance unit (维保单位), agency. NULL: not seen yet. A unit stopped,
-- resumed, made exempt or handed to another party differs, and the scan reads it again.
ALTER TABLE equipment ADD COLUMN notice_basis bigint[];
CREATE INDEX equipment_notice_changed ON equipment (registration_code)
    WHERE notice_basis IS NOT NULL
      AND notice_basis IS DISTINCT FROM ARRAY[(status = 'in_use' AND NOT exempt)::integer::bigint,
                                              owner_id, maintenance_id, agency_id];

-- A party's role and the channels it could be reached on when the scan last gave notices
-- ('agency:webhook,email'). NULL: not yet. A party newly reachable, or newly a bureau, is given
-- the slots its units hold.
ALTER TABLE parties ADD COLUMN notice_reach text;

-- A schedule removed from its unit owes nothing: its pending notices are cancelled when the
-- removing transaction commits (deferred, so a schedule deleted and inserted again in one
-- transaction keeps them; when the unit itself is deleted, its notices are gone already).
CREATE FUNCTION cancel_notices_of_removed_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM equipment_schedules
                   WHERE registration_code = OLD.registration_code AND schedule = OLD.schedule) THEN
        UPDATE notices SET state = 'cancelled', last_error = 'cancelled: schedule removed'
        WHERE registration_code = OLD.registration_code AND schedule = OLD.schedule AND state = 'pending';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER equipment_schedules_removed AFTER DELETE ON equipment_schedules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cancel_notices_of_removed_schedule();

-- The "passed_over_due" rate reads a year's inspections, by day.
CREATE INDEX inspections_by_day ON inspections (inspected_on);

-- The rate's figures per day: exempt units (left out of "in use"), units in use with no due date,
-- and for the "passed_over_due" formula the units due and those passed (NULL when the snapshot was
-- taken under the other formula, which does not compute them).
ALTER TABLE rate_snapshots
    ADD COLUMN no_due_date integer NOT NULL DEFAULT 0,
    ADD COLUMN exempt      integer NOT NULL DEFAULT 0,
    ADD COLUMN due         integer,
    ADD COLUMN passed      integer,
    ADD COLUMN formula     text NOT NULL DEFAULT 'not_overdue',
    ADD CONSTRAINT rate_snapshots_formula CHECK (formula IN ('not_overdue', 'passed_over_due'));
