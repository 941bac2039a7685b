"""The accounts part of the OpenAPI document (query/openapi.py merges it): users, `/v0/me`,
sessions, OAuth 2.0 tokens, API keys and password resets, with their bodies."""

from __future__ import annotations

from query import profiles
from query.openapi_schemas import BOOL, INT, STR, TIME, TIME_OR_NULL, UUID, Schema, null, obj, ref

_STATUS = {
    "BadRequest": "400",
    "Unauthorized": "401",
    "Forbidden": "403",
    "NotFound": "404",
    "NotAcceptable": "406",
    "PayloadTooLarge": "413",
    "UnsupportedMediaType": "415",
    "Unprocessable": "422",
    "Unavailable": "503",
}
SIGNED_IN: list[Schema] = [{"bearer": []}, {"key": []}, {"basic": []}, {"access_token": []}]
_PAGE_HEADERS: dict[str, Schema] = {
    "Total": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": True},
    "Per-Page": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": True},
    "Link": {"description": "RFC 8288 links: first, prev, next, last.", "schema": STR},
}
_NO_STORE: dict[str, Schema] = {
    "Cache-Control": {"schema": {"const": "no-store"}, "required": True},
}


def _json(schema: Schema) -> dict[str, Schema]:
    return {"application/json": {"schema": schema}}


def _body(name: str, *, required: bool = True) -> Schema:
    form = {"schema": ref(name)}
    return {
        "required": required,
        "content": {
            **_json(ref(name)),
            "application/x-www-form-urlencoded": form,
            "multipart/form-data": form,
        },
    }


def _params(*names: str) -> list[Schema]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def _path(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": STR}  # fmt: skip


def _op(
    operation_id: str,
    summary: str,
    ok: tuple[str, str, Schema],
    *,
    errors: tuple[str, ...],
    tag: str = "Accounts",
    params: list[Schema] | None = None,
    body: Schema | None = None,
    headers: dict[str, Schema] | None = None,
    jsonp: bool = False,
    signed_in: bool = False,
    description: str = "",
    extra: dict[str, Schema] | None = None,
) -> Schema:
    status, what, schema = ok
    if body is not None:  # every body may be too large, or in an encoding not served
        errors = tuple(sorted({*errors, *_BODY_ERRORS}, key=_STATUS.__getitem__))
    content = _json(schema)
    if jsonp:
        content["application/javascript"] = {"schema": STR}
    response: Schema = {"description": what, "content": content}
    if headers:
        response["headers"] = headers
    operation: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "parameters": [*(params or []), *_params("pretty", *(("callback",) if jsonp else ()))],
        "responses": {
            status: response,
            **(extra or {}),
            **{_STATUS[name]: {"$ref": f"#/components/responses/{name}"} for name in errors},
        },
    }
    if description:
        operation["description"] = description
    if body is not None:
        operation["requestBody"] = body
    if signed_in:
        operation["security"] = SIGNED_IN
    return operation


_BODY_ERRORS = ("PayloadTooLarge", "UnsupportedMediaType")
_USER_ID = _path("id_or_username", "A user's id, or their username (any case).")
_KEY_ID = {"name": "id", "in": "path", "required": True, "schema": INT}
_RESET_TOKEN = _path("token", "The token of the reset mail.")
_READ = ("BadRequest", "NotAcceptable", "Unavailable")
_OAUTH_ERROR = {"400": {"$ref": "#/components/responses/OAuthError"}}

PATHS: dict[str, Schema] = {
    "/v0/users": {
        "get": _op(
            "listUsers",
            "Users, paginated",
            ("200", "OK", {"type": "array", "items": ref("User")}),
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            params=_params("page", "per_page", "q"),
            headers=_PAGE_HEADERS,
            jsonp=True,
            description=(
                "Filterable and sortable fields: `id`, `uuid`, `username`, `city`, "
                "`country_code`, `created_at`, `updated_at` (never e-mail addresses). "
                "Deleted users are never listed."
            ),
        ),
        "post": _op(
            "createUser",
            "Sign up",
            ("201", "The new user, as they see themself", ref("User")),
            errors=("BadRequest", "NotAcceptable", "Unprocessable", "Unavailable"),
            body=_body("NewUser"),
            headers={"Location": {"schema": STR, "required": True}},
            description=(
                "A taken username or e-mail address, a short password or a malformed field is a "
                "422 naming each field; a read-only or unknown field is a 400 naming it."
            ),
        ),
    },
    "/v0/users/{id_or_username}": {
        "get": _op(
            "getUser",
            "One user with the devices the caller may see",
            ("200", "OK", ref("User")),
            errors=("BadRequest", "Unauthorized", "NotFound", "NotAcceptable", "Unavailable"),
            params=[_USER_ID],
            jsonp=True,
            description=(
                "Private devices only for the user themself and admins; test devices only for "
                "a test API key. `email` only for the user themself and admins."
            ),
        )
    },
    "/v0/me": {
        "get": _op(
            "getMe",
            "The signed-in user",
            ("200", "OK", ref("User")),
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            signed_in=True,
        ),
        "patch": _op(
            "updateMe",
            "Change the signed-in user",
            ("200", "The user as changed", ref("User")),
            errors=(
                "BadRequest",
                "Unauthorized",
                "Forbidden",
                "NotAcceptable",
                "Unprocessable",
                "Unavailable",
            ),
            body=_body("UserChanges", required=False),
            signed_in=True,
            description=(
                "Only the fields the body names change. A read-only field (`id`, `role`, "
                "`owner_id`, `created_at`, tokens...) is a 400 naming each, and nothing changes. "
                "A new `password` needs `current_password`, and ends the user's other sessions. "
                "A test API key may not change the account (403)."
            ),
        ),
        "delete": _op(
            "deleteMe",
            "Delete the signed-in user's account",
            ("200", "Deleted", ref("DeletedUser")),
            errors=("Unauthorized", "Forbidden", "NotAcceptable", "Unavailable"),
            signed_in=True,
            description=(
                "The user disappears from listings, search and user pages, and every token "
                "and API key of theirs is revoked. Not with a test API key (403)."
            ),
        ),
    },
    "/v0/me/api_keys": {
        "get": _op(
            "listApiKeys",
            "The signed-in user's API keys, without the keys",
            ("200", "OK", {"type": "array", "items": ref("ApiKey")}),
            errors=("Unauthorized", "Forbidden", "NotAcceptable", "Unavailable"),
            signed_in=True,
            description="Not with a test API key (403).",
        ),
        "post": _op(
            "createApiKey",
            "A new API key, shown in this answer only",
            ("201", "Created", ref("NewApiKey")),
            errors=("Unauthorized", "Forbidden", "NotAcceptable", "Unprocessable", "Unavailable"),
            body=_body("ApiKeyRequest", required=False),
            headers=_NO_STORE,
            signed_in=True,
            description=(
                "`sk_live_` or `sk_test_` then 43 base64url characters (256 bits). A test key "
                "sees and writes only test data, and may not manage keys or the account (403). "
                "Only the key's SHA-256 is kept."
            ),
        ),
    },
    "/v0/me/api_keys/{id}": {
        "delete": _op(
            "revokeApiKey",
            "Revoke one of the signed-in user's API keys",
            ("200", "The key, revoked", ref("ApiKey")),
            errors=("Unauthorized", "Forbidden", "NotFound", "NotAcceptable", "Unavailable"),
            params=[_KEY_ID],
            signed_in=True,
            description="Another user's key is a 404.",
        )
    },
    "/v0/sessions": {
        "post": _op(
            "signIn",
            "Sign in: an access token",
            ("200", "Signed in", ref("Session")),
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            body=_body("Credentials"),
            headers=_NO_STORE,
            description=(
                "`username` (or an e-mail address, as `username` or `email`) and `password`. "
                "Wrong credentials are a 401 `invalid_credentials`, the same whether or not "
                "the user exists. The token lasts ACCESS_TOKEN_TTL_S."
            ),
        ),
        "delete": _op(
            "signOut",
            "Sign out: revoke the access token presented",
            ("200", "Signed out", obj({"message": STR})),
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            signed_in=True,
            description="Its refresh tokens go too. An API key is not a session (400).",
        ),
    },
    "/oauth/token": {
        "post": _op(
            "oauthToken",
            "OAuth 2.0 token endpoint (RFC 6749)",
            ("200", "Tokens", ref("OAuthTokens")),
            errors=("NotAcceptable", "Unavailable"),
            tag="OAuth",
            body=_body("TokenRequest"),
            headers=_NO_STORE,
            extra=_OAUTH_ERROR,
            description=(
                "`grant_type=password` (`username`, `password`) or `refresh_token` "
                "(`refresh_token`), form-encoded or JSON. Each refresh revokes the refresh "
                "token used and answers a new pair; a refresh token used twice revokes every "
                "token issued from the same sign-in."
            ),
        )
    },
    "/oauth/revoke": {
        "post": _op(
            "oauthRevoke",
            "OAuth 2.0 token revocation (RFC 7009)",
            ("200", "Revoked, or nothing to revoke", {"type": "object", "maxProperties": 0}),
            errors=("NotAcceptable", "Unavailable"),
            tag="OAuth",
            body=_body("TokenParameter"),
            extra=_OAUTH_ERROR,
            description=(
                "An access token, or a refresh token with the tokens issued with it. The "
                "answer is 200 whatever the token was; only a missing `token` is a 400."
            ),
        )
    },
    "/v0/tokens/validate": {
        "post": _op(
            "validateToken",
            "Whether a token or API key is live",
            ("200", "OK", obj({"valid": BOOL})),
            errors=("BadRequest", "NotAcceptable", "Unavailable"),
            tag="OAuth",
            body=_body("TokenParameter"),
            description="Access tokens, refresh tokens and API keys; nothing but `valid`.",
        )
    },
    "/v0/password_resets": {
        "post": _op(
            "requestPasswordReset",
            "Mail a password reset link",
            ("202", "The same answer whether or not the account exists", obj({"message": STR})),
            errors=("BadRequest", "NotAcceptable", "Unavailable"),
            params=[
                {"name": name, "in": "query", "schema": STR}
                for name in ("username", "email", "email_or_username")
            ],
            body=_body("ResetRequest", required=False),
            description=(
                "`username` or `email`, as a query or body parameter. The link's token is "
                "single-use and lasts PASSWORD_RESET_TTL_S."
            ),
        )
    },
    "/v0/password_resets/{token}": {
        "get": _op(
            "getPasswordReset",
            "The user a live reset token belongs to",
            ("200", "OK", ref("User")),
            errors=("BadRequest", "NotFound", "NotAcceptable", "Unavailable"),
            params=[_RESET_TOKEN],
            jsonp=True,
            description="Used, expired and unknown tokens are 404s.",
        ),
        "patch": _op(
            "usePasswordReset",
            "Set a new password with a reset token",
            ("200", "The user", ref("User")),
            errors=("NotFound", "NotAcceptable", "Unprocessable", "Unavailable"),
            params=[_RESET_TOKEN],
            body=_body("NewPassword"),
            description=(
                "Spends the token (a second use is a 404) and revokes the user's access and "
                "refresh tokens."
            ),
        ),
    },
}

RESPONSES: dict[str, Schema] = {
    "OAuthError": {
        "description": "RFC 6749 5.2: `error` and `error_description`, in the error model.",
        "headers": _NO_STORE,
        # A malformed `pretty` is refused before the request reaches OAuth: a plain error.
        "content": _json({"anyOf": [ref("OAuthError"), ref("Error")]}),
    },
}

_TEXT = null("string")
_PROFILE: dict[str, Schema] = {
    "first_name": {"type": ["string", "null"], "maxLength": profiles.MAX_TEXT_CHARS},
    "last_name": {"type": ["string", "null"], "maxLength": profiles.MAX_TEXT_CHARS},
    "city": {"type": ["string", "null"], "maxLength": profiles.MAX_TEXT_CHARS},
    "country_code": {"type": ["string", "null"], "pattern": "^[A-Za-z]{2}$"},
    "url": {"type": ["string", "null"], "description": "http or https"},
    "avatar": {"type": ["string", "null"], "description": "http or https"},
}
_LOGIN: dict[str, Schema] = {
    "username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,30}$"},
    "email": {"type": "string", "maxLength": profiles.MAX_EMAIL_CHARS},
    "password": {
        "type": "string",
        "minLength": profiles.MIN_PASSWORD_CHARS,
        "maxLength": profiles.MAX_PASSWORD_CHARS,
    },
}
_USER_DEVICE = obj(
    {
        "id": INT,
        "uuid": UUID,
        "mac_address": {"type": ["string", "null"], "description": "`[FILTERED]` for others."},
        "name": STR,
        "description": _TEXT,
        "location": {"$ref": "#/components/schemas/Location"},
        "latitude": null("number"),
        "longitude": null("number"),
        "kit_id": null("integer"),
        "state": {"enum": ["not_configured", "never_published", "has_published"]},
        "status": {"enum": ["new", "online", "offline"]},
        "system_tags": {"type": "array", "items": STR},
        "user_tags": {"type": "array", "items": STR},
        "is_private": BOOL,
        "last_reading_at": TIME_OR_NULL,
        "added_at": TIME,
        "updated_at": TIME,
    }
)
_USER: dict[str, Schema] = {
    "id": INT,
    "uuid": UUID,
    "role": {"enum": ["citizen", "researcher", "admin"]},
    "username": STR,
    "avatar": _TEXT,
    "first_name": _TEXT,
    "last_name": _TEXT,
    "location": obj({"city": _TEXT, "country": _TEXT, "country_code": _TEXT}),
    "url": _TEXT,
    "joined_at": TIME,
    "updated_at": TIME,
    "devices": {"type": "array", "items": _USER_DEVICE},
}
_API_KEY: dict[str, Schema] = {
    "id": INT,
    "object": {"const": "api_key"},
    "label": _TEXT,
    "mode": {"enum": ["live", "test"]},
    "last_four": _TEXT,
    "created_at": TIME,
    "revoked_at": TIME_OR_NULL,
}

SCHEMAS: dict[str, Schema] = {
    "User": {
        "description": "The v0 user; `email` only for the user themself and admins.",
        "type": "object",
        "required": list(_USER),
        "properties": {**_USER, "email": _TEXT},
        "additionalProperties": False,
    },
    "DeletedUser": obj({"id": INT, "object": {"const": "user"}, "deleted": {"const": True}}),
    "NewUser": {
        "type": "object",
        "required": ["username", "email", "password"],
        "properties": {**_LOGIN, **_PROFILE},
        "additionalProperties": False,
    },
    "UserChanges": {
        "type": "object",
        "properties": {**_LOGIN, **_PROFILE, "current_password": STR},
        "additionalProperties": False,
    },
    "ApiKey": obj(_API_KEY),
    "NewApiKey": obj(
        {**_API_KEY, "key": {"type": "string", "pattern": "^sk_(live|test)_[A-Za-z0-9_-]{43}$"}}
    ),
    "ApiKeyRequest": {
        "type": "object",
        "properties": {
            # Both are trimmed before they are checked: the length is the trimmed label's.
            "label": {"type": ["string", "null"], "description": "At most 100 characters."},
            "mode": {
                "type": ["string", "null"],
                "description": "`live` (also when absent or blank) or `test`; else a 422.",
            },
        },
    },
    "Credentials": {
        "type": "object",
        "required": ["password"],
        "properties": {"username": STR, "email": STR, "password": STR},
    },
    "Session": obj({"access_token": STR, "token_type": {"const": "Bearer"}, "expires_in": INT}),
    "TokenRequest": {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"enum": ["password", "refresh_token"]},
            "username": STR,
            "password": STR,
            "refresh_token": STR,
        },
    },
    "OAuthTokens": obj(
        {
            "access_token": STR,
            "token_type": {"const": "Bearer"},
            "expires_in": INT,
            "refresh_token": STR,
            "created_at": {"type": "integer", "description": "Epoch seconds."},
        }
    ),
    "OAuthError": {
        "allOf": [ref("Error")],
        "required": ["error", "error_description"],
        "properties": {
            "error": {"enum": ["invalid_request", "invalid_grant", "unsupported_grant_type"]},
            "error_description": STR,
        },
    },
    "TokenParameter": {"type": "object", "required": ["token"], "properties": {"token": STR}},
    "ResetRequest": {"type": "object", "properties": {"username": STR, "email": STR}},
    "NewPassword": {
        "type": "object",
        "required": ["password"],
        "properties": {"password": _LOGIN["password"]},
    },
}

SECURITY_SCHEMES: dict[str, Schema] = {
    "key": {"type": "apiKey", "in": "header", "name": "key"},
    "basic": {"type": "http", "scheme": "basic"},
}
