-- Inspections as the agencies record them (TSG names, registry/conclusions.toml): the conclusion
-- as the report words it (合格, 基本符合要求, …), the kind (regular, or 复检: a re-inspection after
-- a failure), the safety grade the inspection found, the inspector (检验员); and the report's
-- file (PDF or image), kept in the database beside its inspection: no path on disk to traverse,
-- backed up with the register.

ALTER TABLE inspections
    ADD COLUMN conclusion   text,
    ADD COLUMN kind         text NOT NULL DEFAULT 'regular',
    ADD COLUMN safety_grade smallint,
    ADD COLUMN inspector    text,
    ADD CONSTRAINT inspections_kind CHECK (kind IN ('regular', 'reinspection')),
    ADD CONSTRAINT inspections_grade CHECK (safety_grade BETWEEN 1 AND 5);

CREATE TABLE inspection_reports (
    inspection_id  bigint PRIMARY KEY REFERENCES inspections (id) ON DELETE CASCADE,
    filename       text NOT NULL,
    content_type   text NOT NULL,
    size           integer NOT NULL,
    sha256         text NOT NULL,
    data           bytea NOT NULL,
    uploaded_by    text,
    uploaded_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    CHECK (size > 0 AND size = octet_length(data))
);
