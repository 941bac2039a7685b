-- worldmap_columns --
-- The columns of a world-map row after its id, from the device `d`, its owner `u`, its kit `k` and its latest readings' arrays `l` (as JSON text): storage/worldmap.py puts them where a query says WORLDMAP_COLUMNS.
d.name, d.description, d.owner_id, d.kit_id,
d.latitude, d.longitude, d.elevation, d.exposure, d.city, d.country_code,
array_to_json(d.user_tags)::text AS user_tags,
d.precise_location, d.hardware_version,
d.last_reading_at, d.last_posted_at, d.created_at,
u.username AS owner_username,
k.slug AS kit_slug, k.name AS kit_name, k.version AS kit_version,
array_to_json(l.sensor_ids)::text AS sensor_ids,
array_to_json(l.raw_values)::text AS raw_values,
array_to_json(l.values)::text AS values

-- worldmap_public_devices --
-- Every device the public world map shows (public, not a test, located, has posted), with owner, kit and latest readings as arrays by sensor id; arrays as JSON text.
SELECT d.id, WORLDMAP_COLUMNS
  FROM devices d
  LEFT JOIN users u ON u.id = d.owner_id
  LEFT JOIN kits k ON k.id = d.kit_id
  LEFT JOIN (
       -- Read in primary-key order, so each device's arrays are in sensor order without a
       -- sort per device (ORDER BY inside array_agg costs three times as much).
       SELECT r.device_id, array_agg(r.sensor_id) AS sensor_ids,
              array_agg(r.raw_value) AS raw_values, array_agg(r.value) AS values
         FROM (SELECT * FROM latest_readings ORDER BY device_id, sensor_id) r
        GROUP BY r.device_id
       ) l ON l.device_id = d.id
 WHERE d.deleted_at IS NULL AND NOT d.is_test AND NOT d.is_private
   AND d.latitude IS NOT NULL AND d.longitude IS NOT NULL
   AND d.last_reading_at IS NOT NULL
 ORDER BY d.id;

-- worldmap_devices_where --
-- The located devices that have posted and match WORLDMAP_WHICH (a condition on `d`, with the parameters), in the shape of worldmap_public_devices; storage/worldmap.py fills WORLDMAP_WHICH and WORLDMAP_COLUMNS.
SELECT d.id, WORLDMAP_COLUMNS
  FROM devices d
  LEFT JOIN users u ON u.id = d.owner_id
  LEFT JOIN kits k ON k.id = d.kit_id
  LEFT JOIN LATERAL (
       SELECT array_agg(r.sensor_id ORDER BY r.sensor_id) AS sensor_ids,
              array_agg(r.raw_value ORDER BY r.sensor_id) AS raw_values,
              array_agg(r.value ORDER BY r.sensor_id) AS values
         FROM latest_readings r
        WHERE r.device_id = d.id
       ) l ON true
 WHERE (WORLDMAP_WHICH)
   AND d.deleted_at IS NULL
   AND d.latitude IS NOT NULL AND d.longitude IS NOT NULL
   AND d.last_reading_at IS NOT NULL
 ORDER BY d.id;

-- worldmap_deleted_since --
-- The devices deleted at or after $1 (whose data is not purged yet): a snapshot read before may still show them.
SELECT id FROM devices WHERE deleted_at >= $1 AND purged_at IS NULL;

-- worldmap_horizon --
-- The horizon of a read that follows in the same transaction: the oldest transaction id it may not see (pg_snapshot_xmin), as a number for worldmap_changed_ids.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint;

-- worldmap_changed_ids --
-- The ids of the devices whose row, owner, kit or latest readings a read with horizon $1 may not have seen (written by a transaction from $1 on: a few more than changed).
WITH since AS (
       -- age(xid) counts back from the current transaction id, so `age(xmin) BETWEEN 0 AND
       -- since.age` holds for the rows written by a transaction from $1 on. A row frozen long
       -- ago keeps its 32-bit xmin, which after 2^31 more transactions reads as in the future
       -- (a negative age): left out, as it should be.
       SELECT age($1::bigint::text::xid8::xid) AS age
     )
SELECT ARRAY(
       SELECT d.id FROM devices d, since
        WHERE age(d.xmin) BETWEEN 0 AND since.age
        UNION
       SELECT l.device_id FROM latest_readings l, since
        WHERE age(l.xmin) BETWEEN 0 AND since.age
        UNION
       SELECT d.id FROM devices d
        WHERE d.owner_id IN (SELECT u.id FROM users u, since
                              WHERE age(u.xmin) BETWEEN 0 AND since.age)
        UNION
       SELECT d.id FROM devices d
        WHERE d.kit_id IN (SELECT k.id FROM kits k, since
                            WHERE age(k.xmin) BETWEEN 0 AND since.age)
       );
