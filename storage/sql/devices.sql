-- device_by_id --
-- One device that is not deleted, with its owner and kit, and its sensors (its components and its kit's sensors, by id) with their latest readings: the JSON text of the device document's `data.sensors` (query/documents.py:sensor_entry writes the same from listings' rows), timestamps to the second in UTC, NaN as null, numbers as PostgreSQL writes them (40 for 40.0). Each entry is a row of the subquery made JSON whole, its columns the keys (json_build_object's per-argument work cost the database 8-12 µs more per document: docs/performance.md), written compact, as orjson writes (row_to_json, where json_agg and json_build_object put spaces and line feeds between items): the service puts the text into its answer as it is.
SELECT d.id, d.uuid, d.name, d.description, d.owner_id, d.kit_id, d.mac_address,
       d.latitude, d.longitude, d.elevation, d.exposure, d.city, d.country_code, d.user_tags,
       d.is_private, d.precise_location, d.is_test, d.hardware_version,
       d.last_reading_at, d.last_posted_at, d.created_at, d.updated_at,
       u.username AS owner_username, u.uuid AS owner_uuid, u.avatar AS owner_avatar,
       u.url AS owner_url, u.city AS owner_city, u.country_code AS owner_country_code,
       u.created_at AS owner_joined_at, u.updated_at AS owner_updated_at,
       k.uuid AS kit_uuid, k.slug AS kit_slug, k.name AS kit_name,
       k.description AS kit_description, k.version AS kit_version,
       k.created_at AS kit_created_at, k.updated_at AS kit_updated_at,
       (SELECT '[' || coalesce(string_agg(row_to_json(e)::text, ',' ORDER BY e.id), '') || ']'
          FROM (SELECT s.id, s.uuid, s.parent_id, s.name, s.description, s.unit,
                       coalesce(c.key, ks.key, s.default_key) AS default_key,
                       (SELECT mm FROM (SELECT s.measurement_id AS id, m.name, m.description) AS mm
                         WHERE s.measurement_id IS NOT NULL) AS measurement,
                       to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
                       to_char(s.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS updated_at,
                       nullif(l.value, 'NaN') AS value, nullif(l.raw_value, 'NaN') AS raw_value,
                       nullif(l.prev_value, 'NaN') AS prev_value,
                       nullif(l.prev_raw_value, 'NaN') AS prev_raw_value,
                       to_char(l.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_reading_at
                  FROM sensors s
                  LEFT JOIN components c ON c.sensor_id = s.id AND c.device_id = d.id
                  LEFT JOIN kit_sensors ks ON ks.sensor_id = s.id AND ks.kit_id = d.kit_id
                  LEFT JOIN measurements m ON m.id = s.measurement_id
                  LEFT JOIN latest_readings l ON l.device_id = d.id AND l.sensor_id = s.id
                 WHERE c.id IS NOT NULL OR ks.sensor_id IS NOT NULL) AS e
       ) AS sensors
  FROM devices d
  LEFT JOIN users u ON u.id = d.owner_id
  LEFT JOIN kits k ON k.id = d.kit_id
 WHERE d.id = $1 AND d.deleted_at IS NULL;
