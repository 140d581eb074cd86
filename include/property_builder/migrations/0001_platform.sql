-- The platform database: what a build writes. Every table has a natural key that the
-- build's upserts use, so that re-running a step never writes a second row.
CREATE SCHEMA IF NOT EXISTS platform;

CREATE TABLE platform.onboardings (
    submission_id   text PRIMARY KEY,
    payload_sha256  text NOT NULL,
    submitted_at    timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('building', 'complete')),
    property_id     bigint,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);

CREATE TABLE platform.partners (
    id          bigserial PRIMARY KEY,
    partner_key text NOT NULL UNIQUE,
    legal_name  text NOT NULL,
    country     char(2) NOT NULL,
    language    char(2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform.partner_contacts (
    id          bigserial PRIMARY KEY,
    partner_id  bigint NOT NULL REFERENCES platform.partners (id),
    email       text NOT NULL,
    name        text NOT NULL,
    phone       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_id, email)
);

CREATE TABLE platform.partner_tax_details (
    partner_id  bigint PRIMARY KEY REFERENCES platform.partners (id),
    country     char(2) NOT NULL,
    vat_id      text,
    vat_status  text NOT NULL CHECK (vat_status IN ('format_valid', 'not_registered'))
);

CREATE TABLE platform.extranet_invitations (
    id          bigserial PRIMARY KEY,
    partner_id  bigint NOT NULL REFERENCES platform.partners (id),
    contact_id  bigint NOT NULL REFERENCES platform.partner_contacts (id),
    token       text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_id, contact_id)
);

CREATE TABLE platform.properties (
    id             bigserial PRIMARY KEY,
    submission_id  text NOT NULL UNIQUE REFERENCES platform.onboardings (submission_id),
    partner_id     bigint NOT NULL REFERENCES platform.partners (id),
    name           text NOT NULL,
    type           text NOT NULL,
    star_rating    smallint,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform.property_addresses (
    property_id  bigint PRIMARY KEY REFERENCES platform.properties (id),
    line1        text NOT NULL,
    line2        text,
    city         text NOT NULL,
    postal_code  text,
    country      char(2) NOT NULL,
    address_key  text NOT NULL
);
CREATE INDEX property_addresses_key ON platform.property_addresses (address_key);

CREATE TABLE platform.property_locations (
    property_id  bigint PRIMARY KEY REFERENCES platform.properties (id),
    latitude     double precision,
    longitude    double precision,
    source       text NOT NULL CHECK (source IN ('partner', 'gazetteer', 'unresolved'))
);

CREATE TABLE platform.property_regions (
    property_id  bigint PRIMARY KEY REFERENCES platform.properties (id),
    region_code  text NOT NULL,
    region_name  text NOT NULL
);

CREATE TABLE platform.property_settings (
    property_id        bigint PRIMARY KEY REFERENCES platform.properties (id),
    timezone           text NOT NULL,
    currency           char(3) NOT NULL,
    currency_exponent  smallint NOT NULL
);

CREATE TABLE platform.property_check_times (
    property_id      bigint PRIMARY KEY REFERENCES platform.properties (id),
    check_in_from    time NOT NULL,
    check_in_until   time,
    check_out_until  time NOT NULL
);

CREATE TABLE platform.property_policies (
    property_id       bigint PRIMARY KEY REFERENCES platform.properties (id),
    cancellation      text NOT NULL,
    pets_allowed      boolean NOT NULL,
    smoking_allowed   boolean NOT NULL,
    children_allowed  boolean NOT NULL
);

CREATE TABLE platform.property_amenities (
    property_id  bigint NOT NULL REFERENCES platform.properties (id),
    code         text NOT NULL,
    PRIMARY KEY (property_id, code)
);

CREATE TABLE platform.property_licences (
    property_id     bigint PRIMARY KEY REFERENCES platform.properties (id),
    licence_number  text,
    status          text NOT NULL CHECK (status IN ('provided', 'not_required', 'missing'))
);

CREATE TABLE platform.room_types (
    id           bigserial PRIMARY KEY,
    property_id  bigint NOT NULL REFERENCES platform.properties (id),
    name         text NOT NULL,
    type         text NOT NULL,
    unit_count   integer NOT NULL,
    size_m2      numeric(8, 2),
    base_rate    numeric(12, 2) NOT NULL,
    amenities    text[] NOT NULL,
    UNIQUE (property_id, name)
);

CREATE TABLE platform.room_beds (
    room_type_id  bigint NOT NULL REFERENCES platform.room_types (id),
    position      smallint NOT NULL,
    bed_type      text NOT NULL,
    PRIMARY KEY (room_type_id, position)
);

CREATE TABLE platform.room_occupancy (
    room_type_id   bigint PRIMARY KEY REFERENCES platform.room_types (id),
    max_occupancy  smallint NOT NULL,
    max_children   smallint NOT NULL
);

CREATE TABLE platform.rate_plans (
    id            bigserial PRIMARY KEY,
    room_type_id  bigint NOT NULL REFERENCES platform.room_types (id),
    code          text NOT NULL,
    price         numeric(12, 2) NOT NULL,
    refundable    boolean NOT NULL,
    UNIQUE (room_type_id, code)
);

CREATE TABLE platform.cancellation_rules (
    rate_plan_id            bigint PRIMARY KEY REFERENCES platform.rate_plans (id),
    free_cancellation_days  smallint NOT NULL,
    penalty_percent         smallint NOT NULL
);

CREATE TABLE platform.property_taxes (
    property_id  bigint NOT NULL REFERENCES platform.properties (id),
    code         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('percent', 'per_person_night')),
    amount       numeric(8, 2) NOT NULL,
    included     boolean NOT NULL,
    PRIMARY KEY (property_id, code)
);

CREATE TABLE platform.payout_accounts (
    id              bigserial PRIMARY KEY,
    partner_id      bigint NOT NULL REFERENCES platform.partners (id),
    iban            text NOT NULL,
    account_holder  text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_id, iban)
);

CREATE TABLE platform.commission_contracts (
    property_id         bigint PRIMARY KEY REFERENCES platform.properties (id),
    payout_account_id   bigint NOT NULL REFERENCES platform.payout_accounts (id),
    contract_number     text NOT NULL UNIQUE,
    commission_percent  numeric(5, 2) NOT NULL,
    signed_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform.quality_reports (
    property_id  bigint PRIMARY KEY REFERENCES platform.properties (id),
    score        smallint NOT NULL,
    blocking     boolean NOT NULL,
    findings     jsonb NOT NULL
);

CREATE TABLE platform.search_documents (
    property_id  bigint PRIMARY KEY REFERENCES platform.properties (id),
    document     jsonb NOT NULL,
    terms        tsvector NOT NULL
);
CREATE INDEX search_documents_terms ON platform.search_documents USING gin (terms);

CREATE TABLE platform.listings (
    property_id   bigint PRIMARY KEY REFERENCES platform.properties (id),
    slug          text NOT NULL UNIQUE,
    status        text NOT NULL CHECK (status IN ('live', 'in_review')),
    published_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform.partner_notifications (
    submission_id  text NOT NULL REFERENCES platform.onboardings (submission_id),
    kind           text NOT NULL,
    property_id    bigint NOT NULL REFERENCES platform.properties (id),
    contact_id     bigint NOT NULL REFERENCES platform.partner_contacts (id),
    language       char(2) NOT NULL,
    subject        text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, kind)
);
