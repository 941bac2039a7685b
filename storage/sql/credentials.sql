-- ingest_device --
-- A live device by id: owner, token hash, test flag and the keys of its kit and its components.
SELECT d.id, d.owner_id, d.device_token_hash, d.is_test,
       coalesce((SELECT json_object_agg(ks.key, ks.sensor_id)
                   FROM kit_sensors ks WHERE ks.kit_id = d.kit_id), '{}'::json) AS kit_keys,
       coalesce((SELECT json_object_agg(c.key, c.sensor_id ORDER BY c.id DESC)
                   FROM components c WHERE c.device_id = d.id), '{}'::json) AS component_keys
  FROM devices d
 WHERE d.id = $1 AND d.deleted_at IS NULL;

-- ingest_device_by_mac --
-- A live device by MAC address (lowercase colon form, compared case-insensitively), as above.
SELECT d.id, d.owner_id, d.device_token_hash, d.is_test,
       coalesce((SELECT json_object_agg(ks.key, ks.sensor_id)
                   FROM kit_sensors ks WHERE ks.kit_id = d.kit_id), '{}'::json) AS kit_keys,
       coalesce((SELECT json_object_agg(c.key, c.sensor_id ORDER BY c.id DESC)
                   FROM components c WHERE c.device_id = d.id), '{}'::json) AS component_keys
  FROM devices d
 WHERE lower(d.mac_address) = $1 AND d.deleted_at IS NULL
 ORDER BY d.id
 LIMIT 1;

-- token_principal --
-- Who a token hash belongs to: a live user's access token or API key, else a live device.
SELECT t.user_id, u.role, NULL::bigint AS device_id, t.is_test, t.expires_at
  FROM api_tokens t
  JOIN users u ON u.id = t.user_id
 WHERE t.token_hash = $1 AND t.kind IN ('access', 'api_key') AND t.revoked_at IS NULL
   AND u.deleted_at IS NULL
UNION ALL
SELECT NULL::bigint, NULL::text, d.id, d.is_test, NULL::timestamptz
  FROM devices d
 WHERE d.device_token_hash = $1 AND d.deleted_at IS NULL
 LIMIT 1;

-- sensor_catalogue --
-- Every sensor's id and default key, to resolve posted sensor ids and keys.
SELECT id, default_key FROM sensors ORDER BY id;
