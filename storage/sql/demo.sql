-- demo_upsert_user --
-- The demo user, created once; its password is reset to the demo password.
INSERT INTO users (username, email, password_hash, first_name, city, country_code)
VALUES ($1, $2, $3, 'Demo', 'Barcelona', 'ES')
ON CONFLICT (lower(username)) DO UPDATE SET password_hash = excluded.password_hash
RETURNING id;

-- demo_add_token --
-- A fresh access token for the demo user.
INSERT INTO api_tokens (user_id, token_hash, kind, label, expires_at)
VALUES ($1, $2, 'access', 'make run', now() + interval '30 days');

-- demo_find_device --
-- A demo device by name and owner.
SELECT id FROM devices WHERE owner_id = $1 AND name = $2 AND deleted_at IS NULL;

-- demo_add_device --
-- A demo device.
INSERT INTO devices (owner_id, name, description, kit_id, mac_address, latitude, longitude,
                     exposure, city, country_code, device_token_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING id;

-- demo_set_device_token --
-- Give a demo device a new token (only its hash is stored).
UPDATE devices SET device_token_hash = $2, updated_at = now() WHERE id = $1;
