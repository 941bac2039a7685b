"""The SCK 1.x protocol: readings in request headers, the device named by its MAC address.

The firmware sends `X-SmartCitizenMacADDR: 00:06:66:21:2b:8b`, `X-SmartCitizenVersion` and
`X-SmartCitizenData: [{"temp":"29090.6", ..., "timestamp":"2013-10-28 1:34:26"}]`, and reads the
server's clock from the answer, `"UTC:2013,10,28,01,34,26#"`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

MAC_HEADER = "X-SmartCitizenMacADDR"
VERSION_HEADER = "X-SmartCitizenVersion"
DATA_HEADER = "X-SmartCitizenData"

_MAC = re.compile(r"[0-9a-f]{2}(?:([:-]?)[0-9a-f]{2})(?:\1[0-9a-f]{2}){4}")


class LegacyError(ValueError):
    """The SCK 1.x request is malformed."""


def normalise_mac(raw: str | None) -> str:
    """A MAC address in lowercase colon form (`00:06:66:21:2b:8b`); raises LegacyError."""
    if not raw:
        raise LegacyError(f"no {MAC_HEADER} header")
    text = raw.strip().lower()
    if _MAC.fullmatch(text) is None:
        raise LegacyError(f"{MAC_HEADER} {raw[:40]!r} is not a MAC address")
    digits = text.replace(":", "").replace("-", "")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def readings_document(raw: str | None) -> dict[str, Any]:
    """The SmartCitizen body equivalent of an `X-SmartCitizenData` header; raises LegacyError.

    Each object of the header's array becomes an entry of `data`: its `timestamp` is the entry's
    `recorded_at` and every other key names a sensor.
    """
    if not raw:
        raise LegacyError(f"no {DATA_HEADER} header")
    try:
        posted = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LegacyError(f"{DATA_HEADER} is not JSON: {exc}") from None
    if isinstance(posted, dict):
        posted = [posted]
    if not isinstance(posted, list):
        raise LegacyError(f"{DATA_HEADER} must be a JSON array of objects")
    data = []
    for index, entry in enumerate(posted):
        if not isinstance(entry, dict):
            raise LegacyError(f"{DATA_HEADER}[{index}] must be an object")
        sensors = [
            {"id": key, "value": value} for key, value in entry.items() if key != "timestamp"
        ]
        data.append({"recorded_at": entry.get("timestamp"), "sensors": sensors})
    return {"data": data}
