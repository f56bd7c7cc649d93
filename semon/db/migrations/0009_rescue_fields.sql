-- What the elevator emergency centre (96333) finds a unit by and sends help to: the rescue
-- identification code on the plate in the car, the area that sets the arrival limit, the kind of
-- place it serves, where it stands, and more than one duty contact per party.

ALTER TABLE equipment
    ADD COLUMN rescue_code text,       -- 救援识别码: the digits (six in Xining) on the plate in the car
    ADD COLUMN area        text,       -- urban (the urban core, county seats included) | other: the arrival limit
    ADD COLUMN place       text,       -- 使用场所: residential | mall | hospital | school | office | hotel | …
    ADD COLUMN latitude    double precision,   -- WGS84, degrees
    ADD COLUMN longitude   double precision,
    ADD CONSTRAINT equipment_area CHECK (area IN ('urban', 'other')),
    ADD CONSTRAINT equipment_place CHECK (place IN ('residential', 'mall', 'hospital', 'school', 'office', 'hotel',
                                                    'transport', 'public', 'industrial', 'other')),
    ADD CONSTRAINT equipment_position CHECK ((latitude IS NULL) = (longitude IS NULL)
                                             AND latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180);
CREATE UNIQUE INDEX equipment_rescue_code ON equipment (rescue_code) WHERE rescue_code IS NOT NULL;
CREATE INDEX equipment_use_registration_no ON equipment (use_registration_no) WHERE use_registration_no IS NOT NULL;

-- The address is searched as text (a caller gives the street): trigram indexes make ILIKE '%…%' fast.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX equipment_address_trgm ON equipment USING gin (address gin_trgm_ops);

-- The duty contacts of a party beyond its one contact and phone: [{"name": …, "phone": …}, …].
ALTER TABLE parties ADD COLUMN contacts jsonb NOT NULL DEFAULT '[]'::jsonb;
