-- Search (`/v0/search`) and text filters (`q[name_cont]=...`) match with ILIKE '%text%', which a
-- B-tree cannot serve; trigram GIN indexes can. pg_trgm ships with PostgreSQL's contrib modules
-- (Debian's postgresql-15, the timescale/timescaledb image) and is a trusted extension, so the
-- database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX users_username_trgm_idx ON users USING gin (username gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX users_city_trgm_idx ON users USING gin (city gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX devices_name_trgm_idx ON devices USING gin (name gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX devices_description_trgm_idx ON devices USING gin (description gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX devices_city_trgm_idx ON devices USING gin (city gin_trgm_ops)
    WHERE deleted_at IS NULL;
