-- The gateway keeps devices, token holders and the sensor catalogue in memory for minutes, and
-- drops an entry as soon as what it was read from changes: anything that changes a device's
-- credentials or keys, a token, a user's role or deletion, a kit's keys or the catalogue
-- notifies `sensorium_credentials_changed` with what changed:
--   device:<id>     the device (its owner, kit, MAC address, token, test flag, deletion, components)
--   token:<hex>     the token (user token, API key or device token) with this SHA-256
--   user:<id>       every token of this user (role or deletion)
--   kits            every device (a kit's keys changed)
--   catalogue       the sensor catalogue and every device
--   all             everything (a table of credentials was truncated)
-- Notifications are delivered at commit, identical ones of a transaction folded into one. The
-- workers' per-claim updates of devices (last_reading_at, last_posted_at) notify nothing.

CREATE FUNCTION notify_credentials_device() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_id bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
BEGIN
    PERFORM pg_notify('sensorium_credentials_changed', 'device:' || row_id);
    IF TG_OP <> 'INSERT' AND OLD.device_token_hash IS NOT NULL THEN
        PERFORM pg_notify('sensorium_credentials_changed',
                          'token:' || encode(OLD.device_token_hash, 'hex'));
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.device_token_hash IS NOT NULL THEN
        PERFORM pg_notify('sensorium_credentials_changed',
                          'token:' || encode(NEW.device_token_hash, 'hex'));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER devices_notify_credentials
    AFTER INSERT OR DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_device();

CREATE TRIGGER devices_notify_credentials_update
    AFTER UPDATE OF id, owner_id, kit_id, mac_address, device_token_hash, is_test, deleted_at
    ON devices
    FOR EACH ROW
    WHEN ((OLD.id, OLD.owner_id, OLD.kit_id, OLD.mac_address, OLD.device_token_hash,
           OLD.is_test, OLD.deleted_at)
          IS DISTINCT FROM
          (NEW.id, NEW.owner_id, NEW.kit_id, NEW.mac_address, NEW.device_token_hash,
           NEW.is_test, NEW.deleted_at))
    EXECUTE FUNCTION notify_credentials_device();

CREATE FUNCTION notify_credentials_component() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('sensorium_credentials_changed', 'device:' || OLD.device_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('sensorium_credentials_changed', 'device:' || NEW.device_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER components_notify_credentials
    AFTER INSERT OR UPDATE OR DELETE ON components
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_component();

CREATE FUNCTION notify_credentials_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('sensorium_credentials_changed',
                          'token:' || encode(OLD.token_hash, 'hex'));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('sensorium_credentials_changed',
                          'token:' || encode(NEW.token_hash, 'hex'));
    END IF;
    RETURN NULL;
END;
$$;

-- An insert too: a token posted before it existed is cached as unknown.
CREATE TRIGGER api_tokens_notify_credentials
    AFTER INSERT OR DELETE OR UPDATE OF user_id, token_hash, kind, is_test, expires_at, revoked_at
    ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_token();

CREATE FUNCTION notify_credentials_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sensorium_credentials_changed',
                      'user:' || CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_notify_credentials
    AFTER DELETE OR UPDATE OF id, role, deleted_at ON users
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_user();

CREATE FUNCTION notify_credentials_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sensorium_credentials_changed', TG_ARGV[0]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER kit_sensors_notify_credentials
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kit_sensors
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_all('kits');

CREATE TRIGGER sensors_notify_credentials
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sensors
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_all('catalogue');

CREATE TRIGGER devices_truncate_notify_credentials
    AFTER TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_all('all');

CREATE TRIGGER api_tokens_truncate_notify_credentials
    AFTER TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_all('all');

-- Every claim of the workers updates the latest_readings rows and the devices (last_reading_at,
-- last_posted_at) it touches; neither column set is indexed, so with room left on each page
-- the new row versions stay on it (HOT updates) instead of adding an entry to every index
-- (the devices' trigram indexes included) and bloating the table.
ALTER TABLE latest_readings SET (fillfactor = 50);
ALTER TABLE devices SET (fillfactor = 50);
