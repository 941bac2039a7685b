-- listings_devices --
-- Devices a reader may list ($1 reader id, $2 admin, $9 test key), tagged ($3 tags, $4 now, $5 online window), near ($6, $7, within $8 km); storage/listings.py appends conditions.
SELECT *
  FROM (
    SELECT listed.*,
           CASE WHEN $6::float8 IS NULL OR listed.public_latitude IS NULL
                     OR listed.public_longitude IS NULL THEN NULL
                -- Haversine on the coordinates the reader is shown (12742.0176 km: Earth's
                -- mean diameter), so a distance never reveals more than the document does.
                ELSE 12742.0176 * asin(least(1.0, sqrt(
                         power(sin(radians(listed.public_latitude - $6::float8) / 2), 2)
                         + cos(radians($6::float8)) * cos(radians(listed.public_latitude))
                           * power(sin(radians(listed.public_longitude - $7::float8) / 2), 2))))
           END AS distance_km
      FROM (
        SELECT d.id, d.uuid, d.name, d.description, d.owner_id, d.kit_id, d.mac_address,
               d.latitude, d.longitude, d.elevation, d.exposure, d.city, d.country_code,
               d.user_tags, d.is_private, d.precise_location, d.is_test, d.hardware_version,
               d.last_reading_at, d.last_posted_at, d.created_at, d.updated_at,
               u.username AS owner_username, u.uuid AS owner_uuid, u.avatar AS owner_avatar,
               u.url AS owner_url, u.city AS owner_city, u.country_code AS owner_country_code,
               u.created_at AS owner_joined_at, u.updated_at AS owner_updated_at,
               k.uuid AS kit_uuid, k.slug AS kit_slug, k.name AS kit_name,
               k.description AS kit_description, k.version AS kit_version,
               k.created_at AS kit_created_at, k.updated_at AS kit_updated_at,
               CASE WHEN d.precise_location OR d.owner_id = $1 OR $2::boolean THEN d.latitude
                    ELSE round(d.latitude::numeric, 3)::float8 END AS public_latitude,
               CASE WHEN d.precise_location OR d.owner_id = $1 OR $2::boolean THEN d.longitude
                    ELSE round(d.longitude::numeric, 3)::float8 END AS public_longitude
          FROM devices d
          LEFT JOIN users u ON u.id = d.owner_id
          LEFT JOIN kits k ON k.id = d.kit_id
         WHERE d.deleted_at IS NULL
           AND d.is_test = $9::boolean
           AND (NOT d.is_private OR d.owner_id = $1::bigint OR $2::boolean)
           AND ($3::text[] IS NULL
                OR d.user_tags && $3::text[]
                OR d.exposure = ANY($3::text[])
                OR ('new' = ANY($3::text[]) AND d.created_at > $4::timestamptz - interval '7 days')
                OR ('online' = ANY($3::text[])
                    AND coalesce(d.last_posted_at, d.last_reading_at) > $4::timestamptz - $5::interval)
                OR ('offline' = ANY($3::text[])
                    AND coalesce(d.last_posted_at, d.last_reading_at) <= $4::timestamptz - $5::interval))
      ) AS listed
  ) AS listed
 WHERE ($6::float8 IS NULL OR distance_km IS NOT NULL)
   AND ($8::float8 IS NULL OR distance_km <= $8::float8)

-- listings_device_sensors --
-- The sensors of several devices ($1 ids, $2 their kits; components, then kit sensors) with their latest readings.
WITH listed (device_id, kit_id) AS (
    SELECT * FROM unnest($1::bigint[], $2::integer[])
), pairs (device_id, sensor_id) AS (
    SELECT c.device_id, c.sensor_id FROM components c WHERE c.device_id = ANY($1::bigint[])
    UNION
    SELECT listed.device_id, ks.sensor_id
      FROM listed JOIN kit_sensors ks ON ks.kit_id = listed.kit_id
)
SELECT p.device_id, s.id, s.uuid, s.parent_id, s.name, s.description, s.unit,
       coalesce(c.key, ks.key, s.default_key) AS key,
       s.measurement_id, s.created_at, s.updated_at,
       m.name AS measurement_name, m.description AS measurement_description,
       l.time, l.raw_value, l.value, l.prev_time, l.prev_raw_value, l.prev_value,
       c.id AS component_id
  FROM pairs p
  JOIN listed ON listed.device_id = p.device_id
  JOIN sensors s ON s.id = p.sensor_id
  LEFT JOIN components c ON c.device_id = p.device_id AND c.sensor_id = s.id
  LEFT JOIN kit_sensors ks ON ks.kit_id = listed.kit_id AND ks.sensor_id = s.id
  LEFT JOIN measurements m ON m.id = s.measurement_id
  LEFT JOIN latest_readings l ON l.device_id = p.device_id AND l.sensor_id = s.id
 ORDER BY p.device_id, s.id;

-- listings_sensors --
-- The sensor catalogue with each sensor's measurement; storage/listings.py appends conditions.
SELECT *
  FROM (
    SELECT s.id, s.uuid, s.parent_id, s.name, s.description, s.unit, s.default_key,
           s.measurement_id, s.created_at, s.updated_at,
           m.uuid AS measurement_uuid, m.name AS measurement_name,
           m.description AS measurement_description, m.unit AS measurement_unit,
           m.definition AS measurement_definition
      FROM sensors s
      LEFT JOIN measurements m ON m.id = s.measurement_id
  ) AS listed
 WHERE true

-- listings_kits --
-- The kits; storage/listings.py appends conditions.
SELECT *
  FROM (
    SELECT k.id, k.uuid, k.slug, k.name, k.description, k.version, k.created_at, k.updated_at
      FROM kits k
  ) AS listed
 WHERE true

-- listings_kit_sensors --
-- The sensors of several kits ($1), under the key each kit posts them by, with their measurements.
SELECT ks.kit_id, s.id, s.uuid, s.parent_id, s.name, s.description, s.unit,
       coalesce(ks.key, s.default_key) AS default_key,
       s.measurement_id, s.created_at, s.updated_at,
       m.uuid AS measurement_uuid, m.name AS measurement_name,
       m.description AS measurement_description, m.unit AS measurement_unit,
       m.definition AS measurement_definition
  FROM kit_sensors ks
  JOIN sensors s ON s.id = ks.sensor_id
  LEFT JOIN measurements m ON m.id = s.measurement_id
 WHERE ks.kit_id = ANY($1::integer[])
 ORDER BY ks.kit_id, s.id;

-- listings_measurements --
-- The measurements; storage/listings.py appends conditions.
SELECT *
  FROM (
    SELECT m.id, m.uuid, m.name, m.description, m.unit, m.definition, m.created_at, m.updated_at
      FROM measurements m
  ) AS listed
 WHERE true

-- listings_search --
-- Users (username, city) and devices the reader may see ($4 reader id, $5 admin, $6 test key; by name, description, city) matching $2 (ILIKE pattern), ranked: $1 exactly, then $3 as a prefix, then anywhere.
SELECT *
  FROM (
    SELECT 'User' AS type, u.id, u.username AS name, NULL::text AS description,
           NULL::bigint AS owner_id, NULL::text AS owner_username, u.avatar, u.city,
           u.country_code,
           CASE WHEN lower(u.username) = lower($1::text) THEN 0
                WHEN u.username ILIKE $3::text THEN 1
                ELSE 2 END AS rank
      FROM users u
     WHERE u.deleted_at IS NULL
       AND (u.username ILIKE $2::text OR u.city ILIKE $2::text)
    UNION ALL
    SELECT 'Device', d.id, d.name, d.description, d.owner_id, u.username, NULL, d.city,
           d.country_code,
           CASE WHEN lower(d.name) = lower($1::text) THEN 0
                WHEN d.name ILIKE $3::text THEN 1
                ELSE 2 END
      FROM devices d
      LEFT JOIN users u ON u.id = d.owner_id
     WHERE d.deleted_at IS NULL
       AND d.is_test = $6::boolean
       AND (NOT d.is_private OR d.owner_id = $4::bigint OR $5::boolean)
       AND (d.name ILIKE $2::text OR d.description ILIKE $2::text
            OR d.city ILIKE $2::text)
  ) AS listed
 WHERE true
