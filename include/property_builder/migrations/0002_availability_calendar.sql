-- The availability and rates calendar, written by the property services' calendar job:
-- one row per room type per day. No foreign key to room_types: another team's service
-- writes it, and the upsert on (room_type_id, day) keeps a restarted job from
-- duplicating rows.
CREATE TABLE platform.availability_calendar (
    room_type_id     bigint NOT NULL,
    day              date NOT NULL,
    available_units  integer NOT NULL,
    rate             numeric(12, 2) NOT NULL,
    currency         char(3) NOT NULL,
    PRIMARY KEY (room_type_id, day)
);
