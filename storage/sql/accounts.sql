-- credential_by_hash --
-- What the secret with SHA-256 $1 belongs to, live or not: a user's token or key (of a live user), else a live device's token.
SELECT t.id, t.user_id, u.role, t.kind, t.is_test, t.expires_at, t.revoked_at, t.family_id,
       t.token_hash, NULL::bigint AS device_id
  FROM api_tokens t
  JOIN users u ON u.id = t.user_id
 WHERE t.token_hash = $1 AND u.deleted_at IS NULL
UNION ALL
SELECT d.id, NULL::bigint, NULL::text, 'device', d.is_test, NULL::timestamptz, NULL::timestamptz,
       NULL::uuid, d.device_token_hash, d.id
  FROM devices d
 WHERE d.device_token_hash = $1 AND d.deleted_at IS NULL
 LIMIT 1;

-- token_insert --
-- A token of user $1 (hash $2, kind $3, test $4, label $5, lifetime $6 seconds or none, family $7, last four $8).
INSERT INTO api_tokens (user_id, token_hash, kind, is_test, label, expires_at, family_id,
                        last_four)
VALUES ($1, $2, $3, $4, $5,
        CASE WHEN $6::float8 IS NULL THEN NULL ELSE now() + $6::float8 * interval '1 second' END,
        $7, $8)
RETURNING id, created_at, expires_at;

-- token_spend --
-- Revoke live token $1; returns its id only for the one caller that revoked it.
UPDATE api_tokens SET revoked_at = now()
 WHERE id = $1 AND revoked_at IS NULL
RETURNING id;

-- tokens_revoke_family --
-- Revoke every live token of family $1.
UPDATE api_tokens SET revoked_at = now()
 WHERE family_id = $1 AND revoked_at IS NULL;

-- tokens_revoke_user --
-- Revoke every live token of user $1 whose kind is one of $2, except token $3 (none: NULL).
UPDATE api_tokens SET revoked_at = now()
 WHERE user_id = $1 AND kind = ANY($2::text[]) AND revoked_at IS NULL
   AND id IS DISTINCT FROM $3::bigint;

-- api_keys_of --
-- The API keys of user $1, revoked ones too, oldest first.
SELECT id, label, is_test, last_four, created_at, revoked_at
  FROM api_tokens
 WHERE user_id = $1 AND kind = 'api_key'
 ORDER BY id;

-- api_key_revoke --
-- Revoke API key $1 of user $2 (already revoked: unchanged); returns it, or nothing if it is not theirs.
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
 WHERE id = $1 AND user_id = $2 AND kind = 'api_key'
RETURNING id, label, is_test, last_four, created_at, revoked_at;

-- reset_create --
-- A password reset token (hash $2) for user $1, live for $3 seconds.
INSERT INTO password_resets (user_id, token_hash, expires_at)
VALUES ($1, $2, now() + $3::float8 * interval '1 second');

-- reset_user --
-- The live user whose unused, unexpired password reset token has SHA-256 $1.
SELECT r.user_id
  FROM password_resets r
  JOIN users u ON u.id = r.user_id
 WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()
   AND u.deleted_at IS NULL;

-- reset_spend --
-- Use the live password reset token with SHA-256 $1; returns its user only for the one caller that used it.
UPDATE password_resets r SET used_at = now()
  FROM users u
 WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()
   AND u.id = r.user_id AND u.deleted_at IS NULL
RETURNING r.user_id;

-- resets_spend_user --
-- Use up every outstanding password reset token of user $1.
UPDATE password_resets SET used_at = now()
 WHERE user_id = $1 AND used_at IS NULL;

-- user_set_password --
-- Set the password hash of live user $1.
UPDATE users SET password_hash = $2, updated_at = now()
 WHERE id = $1 AND deleted_at IS NULL;

-- outbox_add --
-- A mail handed to the mailer: to $2 (user $1), subject $3, kind $4; its body is never stored.
INSERT INTO mail_outbox (user_id, recipient, subject, kind)
VALUES ($1, $2, $3, $4)
RETURNING id;

-- outbox_delivered --
-- Mail $1 has left.
UPDATE mail_outbox SET delivered_at = now(), error = NULL WHERE id = $1;

-- outbox_failed --
-- Mail $1 could not be delivered: why.
UPDATE mail_outbox SET error = $2 WHERE id = $1;
