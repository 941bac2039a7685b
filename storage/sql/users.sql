-- user_create --
-- A new user ($1 username, $2 email, $3 password hash, then first and last name, city, country code, url, avatar).
INSERT INTO users (username, email, password_hash, first_name, last_name, city, country_code,
                   url, avatar)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id, uuid, username, email, password_hash, role, first_name, last_name, city,
          country_code, url, avatar, created_at, updated_at;

-- user_by_id --
-- A user who is not deleted, by id.
SELECT id, uuid, username, email, password_hash, role, first_name, last_name, city,
       country_code, url, avatar, created_at, updated_at
  FROM users
 WHERE id = $1 AND deleted_at IS NULL;

-- user_by_username --
-- A user who is not deleted, by username (case-insensitive).
SELECT id, uuid, username, email, password_hash, role, first_name, last_name, city,
       country_code, url, avatar, created_at, updated_at
  FROM users
 WHERE lower(username) = lower($1) AND deleted_at IS NULL;

-- user_by_login --
-- A user who is not deleted, by username or e-mail address (case-insensitive; a username match first).
SELECT id, uuid, username, email, password_hash, role, first_name, last_name, city,
       country_code, url, avatar, created_at, updated_at
  FROM users
 WHERE (lower(username) = lower($1) OR lower(email) = lower($1)) AND deleted_at IS NULL
 ORDER BY lower(username) = lower($1) DESC, id
 LIMIT 1;

-- users_taken --
-- Whether username $1 and e-mail $2 belong to a user other than $3 (deleted users keep theirs).
SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1) AND id IS DISTINCT FROM $3),
       EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($2) AND id IS DISTINCT FROM $3);

-- user_update --
-- Change the columns named as keys of $2 (jsonb) of user $1; absent keys keep their value.
UPDATE users SET
    username      = CASE WHEN $2::jsonb ? 'username' THEN $2::jsonb ->> 'username' ELSE username END,
    email         = CASE WHEN $2::jsonb ? 'email' THEN $2::jsonb ->> 'email' ELSE email END,
    password_hash = CASE WHEN $2::jsonb ? 'password_hash' THEN $2::jsonb ->> 'password_hash'
                         ELSE password_hash END,
    first_name    = CASE WHEN $2::jsonb ? 'first_name' THEN $2::jsonb ->> 'first_name' ELSE first_name END,
    last_name     = CASE WHEN $2::jsonb ? 'last_name' THEN $2::jsonb ->> 'last_name' ELSE last_name END,
    city          = CASE WHEN $2::jsonb ? 'city' THEN $2::jsonb ->> 'city' ELSE city END,
    country_code  = CASE WHEN $2::jsonb ? 'country_code' THEN $2::jsonb ->> 'country_code'
                         ELSE country_code END,
    url           = CASE WHEN $2::jsonb ? 'url' THEN $2::jsonb ->> 'url' ELSE url END,
    avatar        = CASE WHEN $2::jsonb ? 'avatar' THEN $2::jsonb ->> 'avatar' ELSE avatar END,
    updated_at    = now()
 WHERE id = $1 AND deleted_at IS NULL
RETURNING id, uuid, username, email, password_hash, role, first_name, last_name, city,
          country_code, url, avatar, created_at, updated_at;

-- user_soft_delete --
-- Mark user $1 deleted with its devices (their tokens forgotten; the workers purge their readings); returns its id if it was live.
WITH deleted AS (
    UPDATE users SET deleted_at = now(), updated_at = now()
     WHERE id = $1 AND deleted_at IS NULL
    RETURNING id
), devices_deleted AS (
    UPDATE devices SET deleted_at = now(), updated_at = now(), device_token_hash = NULL
     WHERE owner_id IN (SELECT id FROM deleted) AND deleted_at IS NULL
)
SELECT id FROM deleted;

-- users_listing --
-- Users who are not deleted, with the columns one may filter and sort on; storage/listings.py appends conditions.
SELECT *
  FROM (
    SELECT u.id, u.uuid, u.username, u.email, u.password_hash, u.role, u.first_name,
           u.last_name, u.city, u.country_code, u.url, u.avatar, u.created_at, u.updated_at
      FROM users u
     WHERE u.deleted_at IS NULL
  ) AS listed
 WHERE true

-- users_devices --
-- The devices (not deleted) of users $1, oldest first.
SELECT d.id, d.uuid, d.owner_id, d.name, d.description, d.kit_id, d.mac_address, d.latitude,
       d.longitude, d.elevation, d.exposure, d.city, d.country_code, d.user_tags, d.is_private,
       d.precise_location, d.is_test, d.last_reading_at, d.last_posted_at, d.created_at,
       d.updated_at
  FROM devices d
 WHERE d.owner_id = ANY($1::bigint[]) AND d.deleted_at IS NULL
 ORDER BY d.owner_id, d.id;
