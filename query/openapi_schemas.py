"""The bodies of the OpenAPI document (query/openapi.py): JSON Schema 2020-12, as OpenAPI 3.1 has.

Documents are closed (`additionalProperties: false`) and list every key as required, blank ones
being null: a key added to or dropped from an answer without being added here fails
tests/integration/query/test_openapi.py.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
# History timestamps: bucket starts may carry milliseconds or a time zone's offset.
_BUCKET_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Any], **extra: Any) -> Schema:
    """A closed object whose properties are all required (blank ones are null)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": required,
        "additionalProperties": False,
        **extra,
    }


def null(schema: Schema | str) -> Schema:
    """`schema` or null."""
    if isinstance(schema, str):
        return {"type": [schema, "null"]}
    return {"oneOf": [schema, {"type": "null"}]}


STR, INT, NUM, BOOL = (
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
)
UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "pattern": _TIME}
TIME_OR_NULL = {"type": ["string", "null"], "pattern": _TIME}
TAGS = {"type": "array", "items": STR}

_LOCATION = {
    "exposure": null("string"),
    "elevation": null("number"),
    "latitude": null("number"),
    "longitude": null("number"),
    "geohash": null("string"),
    "city": null("string"),
    "country_code": null("string"),
    "country": null("string"),
}
_HARDWARE = obj(
    {
        "name": null("string"),
        "type": null("string"),
        "version": null("string"),
        "slug": null("string"),
        "last_status_message": {},
    }
)
_CATALOGUE_SENSOR_FIELDS = {
    "id": INT,
    "uuid": UUID,
    "parent_id": null("integer"),
    "name": STR,
    "description": null("string"),
    "unit": null("string"),
    "created_at": TIME,
    "updated_at": TIME,
}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "description": "Every error: SmartCitizen's keys and the structured ones together.",
        "type": "object",
        "required": [
            "id",
            "message",
            "url",
            "errors",
            "object",
            "code",
            "type",
            "fields",
            "request_id",
        ],
        "properties": {
            "id": STR,
            "message": STR,
            "url": STR,
            "errors": {"type": ["object", "null"], "additionalProperties": TAGS},
            "object": {"const": "error"},
            "code": STR,
            "type": {
                "enum": [
                    "api_error",
                    "invalid_request_error",
                    "authentication_error",
                    "permission_error",
                    "rate_limit_error",
                ]
            },
            "fields": {
                "type": ["array", "null"],
                "items": obj({"name": STR, "message": STR}),
            },
            "request_id": STR,
        },
    },
    "RejectedReading": obj(
        {"index": null("integer"), "sensor": {"type": ["string", "integer", "null"]}, "reason": STR}
    ),
    "NoValidReadings": {
        "allOf": [ref("Error")],
        "required": ["accepted", "rejected"],
        "properties": {
            "accepted": {"const": 0},
            "rejected": {"type": "array", "items": ref("RejectedReading")},
        },
    },
    "Measurement": obj(
        {
            "id": INT,
            "uuid": UUID,
            "name": STR,
            "description": null("string"),
            "unit": null("string"),
            "definition": null("string"),
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
    "Sensor": obj(
        {
            **_CATALOGUE_SENSOR_FIELDS,
            "measurement": null(
                obj(
                    {
                        "id": INT,
                        "uuid": UUID,
                        "name": STR,
                        "description": null("string"),
                        "unit": null("string"),
                        "definition": null("string"),
                    }
                )
            ),
            "default_key": null("string"),
        }
    ),
    "Kit": obj(
        {
            "id": INT,
            "uuid": UUID,
            "slug": STR,
            "name": STR,
            "description": null("string"),
            "created_at": TIME,
            "updated_at": TIME,
            "sensors": {"type": "array", "items": ref("Sensor")},
        }
    ),
    "DeviceSensor": obj(
        {
            **_CATALOGUE_SENSOR_FIELDS,
            "default_key": null("string"),
            "measurement": null(
                obj({"id": INT, "name": null("string"), "description": null("string")})
            ),
            "value": null("number"),
            "raw_value": null("number"),
            "prev_value": null("number"),
            "prev_raw_value": null("number"),
            "last_reading_at": TIME_OR_NULL,
        }
    ),
    "Location": obj(_LOCATION),
    "Hardware": _HARDWARE,
    "Device": obj(
        {
            "id": INT,
            "uuid": UUID,
            "name": STR,
            "description": null("string"),
            "state": {"enum": ["not_configured", "never_published", "has_published"]},
            "status": {"enum": ["new", "online", "offline"]},
            "system_tags": TAGS,
            "user_tags": TAGS,
            "last_reading_at": TIME_OR_NULL,
            "added_at": TIME,
            "created_at": TIME,
            "updated_at": TIME,
            "kit_id": null("integer"),
            "mac_address": {
                "type": ["string", "null"],
                "description": "The MAC address for its owner, `[FILTERED]` for others.",
            },
            "device_token": {"const": "[FILTERED]"},
            "notify": obj({"stopped_publishing": BOOL, "low_battery": BOOL}),
            "data_policy": obj(
                {
                    "is_private": BOOL,
                    "precise_location": BOOL,
                    "enable_forwarding": BOOL,
                    "forwarding_destination": null("string"),
                }
            ),
            "hardware": ref("Hardware"),
            "postprocessing": {"type": "null"},
            "owner": null(
                obj(
                    {
                        "id": INT,
                        "uuid": UUID,
                        "username": STR,
                        "avatar": null("string"),
                        "url": null("string"),
                        "joined_at": TIME,
                        "updated_at": TIME,
                        "location": obj(
                            {
                                "city": null("string"),
                                "country_code": null("string"),
                                "country": null("string"),
                            }
                        ),
                    }
                )
            ),
            "latitude": null("number"),
            "longitude": null("number"),
            "exposure": {"enum": ["indoor", "outdoor", None]},
            "location": ref("Location"),
            "data": obj(
                {
                    "recorded_at": TIME_OR_NULL,
                    "added_at": TIME_OR_NULL,
                    "calibrated_at": TIME_OR_NULL,
                    "location": obj({"ip": null("string"), **_LOCATION}),
                    "sensors": {"type": "array", "items": ref("DeviceSensor")},
                }
            ),
            "kit": null(
                obj(
                    {
                        "id": INT,
                        "uuid": UUID,
                        "slug": STR,
                        "name": STR,
                        "description": null("string"),
                        "created_at": TIME,
                        "updated_at": TIME,
                    }
                )
            ),
        }
    ),
    "WorldMapDevice": obj(
        {
            "id": INT,
            "name": STR,
            "description": null("string"),
            "owner_id": null("integer"),
            "owner_username": null("string"),
            "latitude": NUM,
            "longitude": NUM,
            "city": null("string"),
            "country_code": null("string"),
            "kit_id": null("integer"),
            "status": {"enum": ["new", "online", "offline"]},
            "exposure": null("string"),
            "data": {
                "type": "object",
                "description": "Latest readings: `<sensor_id>` calibrated, `<sensor_id>_raw` raw.",
                "required": ["recorded_at", "added_at", "calibrated_at"],
                "properties": {
                    "recorded_at": TIME_OR_NULL,
                    "added_at": TIME_OR_NULL,
                    "calibrated_at": TIME_OR_NULL,
                },
                "patternProperties": {"^[0-9]+(_raw)?$": null("number")},
                "additionalProperties": False,
            },
            "added_at": TIME,
            "state": {"enum": ["not_configured", "never_published", "has_published"]},
            "system_tags": TAGS,
            "user_tags": TAGS,
            "last_reading_at": TIME_OR_NULL,
            "location": ref("Location"),
            "hardware": ref("Hardware"),
        }
    ),
    "ReadingSeries": obj(
        {
            "device_id": INT,
            "sensor_key": null("string"),
            "sensor_id": {
                "type": ["integer", "null"],
                "description": "Null for a key that no sensor of the device has.",
            },
            "component_id": null("integer"),
            "rollup": {"type": "string", "pattern": r"^[0-9]+(y|M|w|d|h|m|s|ms)$"},
            "function": {"enum": ["avg", "max", "min", "sum", "count", "dev", "first", "last"]},
            "from": {"type": "string", "pattern": _BUCKET_TIME},
            "to": {"type": "string", "pattern": _BUCKET_TIME},
            "sample_size": {"type": "integer", "minimum": 0},
            "readings": {
                "description": "`[bucket start, value]`, newest first.",
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [{"type": "string", "pattern": _BUCKET_TIME}, null("number")],
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        }
    ),
    "ReadingSeriesList": obj(
        {"device_id": INT, "series": {"type": "array", "items": ref("ReadingSeries")}},
        description="Several sensors (`sensor_id=12,13`): one series per sensor, as asked.",
    ),
    "SearchResult": {
        "oneOf": [
            obj(
                {
                    "id": INT,
                    "type": {"const": "User"},
                    "username": STR,
                    "avatar": null("string"),
                    "city": null("string"),
                    "url": STR,
                    "country_code": null("string"),
                    "country": null("string"),
                }
            ),
            obj(
                {
                    "id": INT,
                    "type": {"const": "Device"},
                    "name": STR,
                    "description": null("string"),
                    "owner_id": null("integer"),
                    "owner_username": null("string"),
                    "city": null("string"),
                    "url": STR,
                    "country_code": null("string"),
                    "country": null("string"),
                }
            ),
        ]
    },
    "Index": {
        "type": "object",
        "required": ["devices_url", "kits_url", "measurements_url", "sensors_url", "search_url"],
        "additionalProperties": STR,
    },
    "ReadingsBody": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    # Only the shape is checked for the whole body (a 400); a bad time, sensor
                    # or value rejects its readings one by one, listed in `rejected`.
                    "type": "object",
                    "required": ["sensors"],
                    "properties": {
                        "recorded_at": {
                            "description": "ISO 8601 (UTC when naive) or epoch seconds; when "
                            "missing or neither, the entry's readings are rejected.",
                        },
                        "sensors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {
                                        "description": "A sensor id, or the key the device "
                                        "posts it by (`key` is read too); an unknown one "
                                        "rejects the reading.",
                                    },
                                    "key": {"description": "Read when `id` is absent."},
                                    "value": {
                                        "description": "A finite number, or a string of one; "
                                        "null: nothing this time. Anything else, or none, "
                                        "rejects the reading.",
                                    },
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    "ReadingsAccepted": obj(
        {
            "id": {"const": "ok"},
            "message": STR,
            "url": STR,
            "errors": STR,
            "accepted": {"type": "integer", "minimum": 0},
            "rejected": {"type": "array", "items": ref("RejectedReading")},
        }
    ),
    "Clock": {
        "description": "The server's UTC clock as SCK 1.x firmware reads it.",
        "type": "string",
        "pattern": r"^UTC:\d{4},\d{1,2},\d{1,2},\d{2},\d{2},\d{2}#$",
    },
    "Health": obj({"status": {"const": "ok"}}),
    "Ready": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"const": "ready"},
            "backlog_readings": {"type": "integer", "description": "Gateway only."},
            "pending_readings": {"type": "integer", "description": "Gateway only."},
        },
        "additionalProperties": False,
    },
}

# The device registry (query/registry.py): what a body may write, and the answers that show a
# device's token this once.
_DEVICE_FIELDS: Schema = {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "description": {"type": ["string", "null"], "maxLength": 2000},
    "mac_address": {
        "type": "string",
        "description": "`aa:bb:cc:dd:ee:ff`, `aa-bb-...` or 12 hex digits, any case; stored "
        "and shown in lowercase colon form. One live device per MAC address.",
    },
    "kit_id": {"type": ["integer", "null"], "description": "A kit of GET /v0/kits."},
    "exposure": {"enum": ["indoor", "outdoor", None]},
    "latitude": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
    "longitude": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
    "elevation": {"type": ["number", "null"], "minimum": -11000, "maximum": 9000},
    "user_tags": {
        "description": "An array, or one text of comma-separated tags (at most 20, 64 chars).",
        "oneOf": [{"type": "array", "items": STR, "maxItems": 20}, STR],
    },
    "is_private": {"type": ["boolean", "string"]},
    "precise_location": {"type": ["boolean", "string"]},
}
SCHEMAS["DeviceFields"] = {
    "description": (
        "The writable fields of a device, as JSON or a form (booleans as true/false/1/0, "
        "`user_tags[]` may repeat). Any other field (read-only ones such as `id`, `owner_id`, "
        "`device_token`, `is_test`, timestamps, or unknown ones) is a 400 naming it."
    ),
    "type": "object",
    "properties": _DEVICE_FIELDS,
    "additionalProperties": False,
}
SCHEMAS["NewDeviceFields"] = {**SCHEMAS["DeviceFields"], "required": ["name", "mac_address"]}
SCHEMAS["DeviceWithToken"] = {
    **SCHEMAS["Device"],
    "description": "The device for its owner, with its token in plain: shown this once.",
    "properties": {
        **SCHEMAS["Device"]["properties"],
        "device_token": {"type": "string", "minLength": 43},
    },
}
