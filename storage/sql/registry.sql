-- registry_kit_exists --
-- Whether kit $1 exists.
SELECT EXISTS (SELECT 1 FROM kits WHERE id = $1);

-- registry_mac_holder --
-- The live device other than $2 (NULL: none) that has MAC address $1 (lowercase colon form), if any.
SELECT id
  FROM devices
 WHERE lower(mac_address) = $1 AND deleted_at IS NULL AND id IS DISTINCT FROM $2::bigint
 LIMIT 1;

-- registry_insert_device --
-- A new device of owner $1 with its token's hash; returns its id.
INSERT INTO devices (owner_id, name, description, kit_id, mac_address, latitude, longitude,
                     elevation, exposure, user_tags, is_private, precise_location, is_test,
                     device_token_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
RETURNING id;

-- registry_device_for_update --
-- A live device's writable fields and what deciding who may write them needs, locked until the transaction ends.
SELECT id, owner_id, is_private, is_test, name, description, kit_id, mac_address, latitude,
       longitude, elevation, exposure, user_tags, precise_location
  FROM devices
 WHERE id = $1 AND deleted_at IS NULL
   FOR NO KEY UPDATE;

-- registry_update_device --
-- Write every writable field of live device $1 (the caller merged the changes into the current values).
UPDATE devices
   SET name = $2, description = $3, kit_id = $4, mac_address = $5, latitude = $6,
       longitude = $7, elevation = $8, exposure = $9, user_tags = $10, is_private = $11,
       precise_location = $12, updated_at = now()
 WHERE id = $1 AND deleted_at IS NULL;

-- registry_delete_device --
-- Soft-delete live device $1 and forget its token; whether it was live.
UPDATE devices
   SET deleted_at = now(), updated_at = now(), device_token_hash = NULL
 WHERE id = $1 AND deleted_at IS NULL
RETURNING id;

-- registry_set_token --
-- Give live device $1 the token whose hash is $2 (the previous token stops working); whether it was live.
UPDATE devices
   SET device_token_hash = $2, updated_at = now()
 WHERE id = $1 AND deleted_at IS NULL
RETURNING id;

-- registry_next_to_purge --
-- A deleted device not yet purged (none of $1), locked against other purgers; whether it was deleted more than $2 seconds ago.
SELECT c.id, c.deleted_at < now() - $2::float8 * interval '1 second' AS settled
  FROM (SELECT id, deleted_at
          FROM devices
         WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND id <> ALL($1::bigint[])
         ORDER BY deleted_at, id
         LIMIT 16) AS c
-- No outer ORDER BY: the candidates come in order, and the first one locked ends the scan, so
-- no other candidate is locked in passing.
 WHERE pg_try_advisory_xact_lock(1581580290, (c.id % 2147483647)::integer)
 LIMIT 1;

-- registry_purge_rows --
-- Delete at most $2 rows of device $1 from PURGE_TABLE, whose rows PURGE_KEY identifies (waiting for a transaction that holds one, such as a worker's claim, to finish); how many.
WITH doomed AS (
    SELECT PURGE_KEY FROM PURGE_TABLE WHERE device_id = $1 LIMIT $2
), gone AS (
    DELETE FROM PURGE_TABLE AS t
     USING doomed
     WHERE (PURGE_T_KEY) = (PURGE_DOOMED_KEY)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- registry_mark_purged --
-- Record that nothing of deleted device $1 is left; its id, unless another purger recorded it first.
UPDATE devices SET purged_at = now()
 WHERE id = $1 AND deleted_at IS NOT NULL AND purged_at IS NULL
RETURNING id;
