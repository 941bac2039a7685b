-- device_by_id --
-- One device that is not deleted, with its owner and kit, and its sensors (its components and its kit's sensors, by id) with their latest readings, as an array of records.
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
       ARRAY(
           SELECT ROW(s.id, s.uuid, s.parent_id, s.name, s.description, s.unit,
                      coalesce(c.key, ks.key, s.default_key),
                      s.measurement_id, s.created_at, s.updated_at,
                      m.name, m.description,
                      l.time, l.raw_value, l.value, l.prev_time, l.prev_raw_value, l.prev_value,
                      c.id)
             FROM sensors s
             LEFT JOIN components c ON c.sensor_id = s.id AND c.device_id = d.id
             LEFT JOIN kit_sensors ks ON ks.sensor_id = s.id AND ks.kit_id = d.kit_id
             LEFT JOIN measurements m ON m.id = s.measurement_id
             LEFT JOIN latest_readings l ON l.device_id = d.id AND l.sensor_id = s.id
            WHERE c.id IS NOT NULL OR ks.sensor_id IS NOT NULL
            ORDER BY s.id
       ) AS sensors
  FROM devices d
  LEFT JOIN users u ON u.id = d.owner_id
  LEFT JOIN kits k ON k.id = d.kit_id
 WHERE d.id = $1 AND d.deleted_at IS NULL;
