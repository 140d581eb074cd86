-- What the property services' photos and descriptions jobs produce, as the listing uses it.
CREATE TABLE platform.property_photos (
    property_id   bigint NOT NULL REFERENCES platform.properties (id),
    url           text NOT NULL,
    position      smallint NOT NULL,
    room_type_id  bigint REFERENCES platform.room_types (id),
    caption       text,
    quality       numeric(4, 3) NOT NULL,
    sizes         jsonb NOT NULL,
    PRIMARY KEY (property_id, url)
);

CREATE TABLE platform.property_descriptions (
    property_id  bigint NOT NULL REFERENCES platform.properties (id),
    language     char(2) NOT NULL,
    text         text NOT NULL,
    PRIMARY KEY (property_id, language)
);
