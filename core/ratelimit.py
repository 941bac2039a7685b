"""Rate limits: an in-process GCRA limiter keyed by string, its policies and their settings.

GCRA (the generic cell rate algorithm) keeps one number per key, its theoretical arrival time
(TAT): the moment the key would be fully rested again if it made no more requests. A policy of
`limit` requests per `window_s` with a `burst` spaces requests `window_s / limit` apart (the
emission interval) and lets a rested key spend `burst` of them at once. A request is allowed
when, counting it, the TAT is at most `burst` intervals ahead of now; a refused request changes
nothing, so a client that backs off for Retry-After is always served next.

Memory is bounded: a key whose TAT has passed is the same as an unknown key, so it is forgotten
(the least recently seen keys are checked on every call), and past `max_keys` the least recently
seen key is evicted, forgiving it (failing open is the right way to fail for a limiter). A key
costs about 200 bytes: the default cap of 100,000 keys is some 20 MB per limiter.

Limits are kept per process. With N processes behind nginx's round robin each sees about 1/N of
a client's requests, so each process enforces 1/N of every quota (`Policy.share`): the launcher
tells each service how many processes it runs (`QUERY_RATE_LIMIT_PROCESSES`,
`INGEST_RATE_LIMIT_PROCESSES`), and a deployment that runs replicas sets the same. A shared store
(Redis, the database) would be exact but would put a round trip on every request; a client
near its quota may be refused by one process slightly before another, which a 429 with
Retry-After makes harmless. The headers describe what the answering process enforces.

Everything here is pure: time is an argument, so tests drive it with a fake clock.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from core import settings

_NS = 1_000_000_000
_SWEEP_PER_CALL = 2  # rested keys forgotten per call: more than a call can create


@dataclass(frozen=True, slots=True)
class Policy:
    """`limit` requests per `window_s` seconds; a rested client may spend `burst` at once."""

    limit: int
    burst: int
    window_s: int = 60

    def __post_init__(self) -> None:
        if self.limit < 1 or self.burst < 1 or self.window_s < 1:
            raise ValueError(f"a rate limit policy needs positive numbers, got {self}")

    def share(self, processes: int) -> Policy:
        """This policy's share for one of `processes` processes that split the traffic evenly."""
        n = max(1, processes)
        return Policy(math.ceil(self.limit / n), math.ceil(self.burst / n), self.window_s)

    def describe(self) -> str:
        """The `RateLimit-Policy` value: `600;w=60`, with `;burst=` when it is not the limit."""
        text = f"{self.limit};w={self.window_s}"
        return text if self.burst == self.limit else f"{text};burst={self.burst}"


class Decision(NamedTuple):
    """The answer for one request: allowed or not, what is left, and when to come back.

    `remaining` requests may follow at once; `reset_s` is when the key is fully rested again;
    `retry_after_s` (0 when allowed) is when a refused request would be allowed.
    """

    allowed: bool
    remaining: int
    reset_s: float
    retry_after_s: float


class Limiter:
    """A GCRA limiter for one policy, keyed by string, remembering at most `max_keys` keys."""

    def __init__(self, policy: Policy, *, max_keys: int = 100_000) -> None:
        self.policy = policy
        self.max_keys = max(1, max_keys)
        self._interval = policy.window_s * _NS // policy.limit
        self._horizon = self._interval * policy.burst
        # Key -> TAT in nanoseconds, least recently seen first.
        self._tats: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tats)

    def check(self, key: str, now: float) -> Decision:
        """Count one request of `key` at time `now` (seconds, any monotonic origin)."""
        now_ns = round(now * _NS)
        tats = self._tats
        if tats:
            self._forget_rested(tats, now_ns)
        tat = tats.get(key, now_ns)
        if tat < now_ns:
            tat = now_ns
        ahead = tat + self._interval - now_ns
        if ahead > self._horizon:
            if key in tats:
                tats.move_to_end(key)
            return Decision(False, 0, (tat - now_ns) / _NS, (ahead - self._horizon) / _NS)
        tats[key] = tat + self._interval
        tats.move_to_end(key)
        if len(tats) > self.max_keys:
            tats.popitem(last=False)
        return Decision(True, (self._horizon - ahead) // self._interval, ahead / _NS, 0.0)

    @staticmethod
    def _forget_rested(tats: OrderedDict[str, int], now_ns: int) -> None:
        """Forget up to _SWEEP_PER_CALL least recently seen keys whose TAT has passed."""
        for _ in range(_SWEEP_PER_CALL):
            key, tat = next(iter(tats.items()))
            if tat > now_ns:
                return
            del tats[key]
            if not tats:
                return


def headers(policy: Policy, decision: Decision) -> dict[str, str]:
    """The `RateLimit-*` headers (IETF httpapi draft) for a decision under `policy`."""
    return {
        "RateLimit-Limit": str(policy.burst),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_s)),
        "RateLimit-Policy": policy.describe(),
    }


def retry_after(decision: Decision) -> int:
    """Whole seconds for `Retry-After`: at least 1, never shorter than the real wait."""
    return max(1, math.ceil(decision.retry_after_s))


# Query: a person's dashboard or a script; a rested client may spend two minutes' worth at once.
QUERY_QUOTA = Policy(limit=600, burst=1200)
# Devices post about once a minute; after an outage one may upload its backlog: a quota larger
# than a person's lets it catch up at full speed for a while (the burst), then it is slowed to 20
# posts a second (each up to hundreds of readings), never dropped.
DEVICE_QUOTA = Policy(limit=1200, burst=2400)
# Every request of one client IP, whatever credential it presents: stops a client from dodging
# its quota with made-up tokens, and leaves room for many devices or people behind one NAT.
IP_CEILING = Policy(limit=6000, burst=3000)
LOOPBACK = ("127.0.0.0/8", "::1/128")


# Not slotted: from_env reads the defaults as class attributes.
@dataclass(frozen=True)
class RateLimitSettings:
    """The quotas of one service; `processes` of it share the traffic (each enforces 1/N)."""

    quota: Policy = QUERY_QUOTA
    ip_ceiling: Policy = IP_CEILING
    enabled: bool = True
    trusted_proxies: tuple[str, ...] = LOOPBACK
    max_keys: int = 100_000
    processes: int = 1

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, prefix: str, default_quota: Policy
    ) -> RateLimitSettings:
        """Settings from `<prefix>_RATE_LIMIT_PER_MIN`, `<prefix>_RATE_LIMIT_BURST`,
        `<service>_RATE_LIMIT_PROCESSES` and the shared `RATE_LIMIT_*` and `TRUSTED_PROXIES`.

        `prefix` is `QUERY` or `INGEST_DEVICE`; raises SettingError naming a bad variable.
        """
        service = prefix.split("_", 1)[0]
        return cls(
            quota=_policy(env, f"{prefix}_RATE_LIMIT", default_quota),
            ip_ceiling=_policy(env, "RATE_LIMIT_IP_CEILING", IP_CEILING),
            enabled=settings.get_bool(env, "RATE_LIMIT_ENABLED", cls.enabled),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            max_keys=settings.get_int(env, "RATE_LIMIT_MAX_KEYS", cls.max_keys, 1),
            processes=settings.get_int(env, f"{service}_RATE_LIMIT_PROCESSES", cls.processes, 1),
        )


QUERY_LIMITS = RateLimitSettings(quota=QUERY_QUOTA)
INGEST_LIMITS = RateLimitSettings(quota=DEVICE_QUOTA)


def _policy(env: Mapping[str, str], name: str, default: Policy) -> Policy:
    limit = settings.get_int(env, f"{name}_PER_MIN", default.limit, 1)
    return Policy(limit, settings.get_int(env, f"{name}_BURST", default.burst, 1))


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return LOOPBACK
    networks = []
    for item in raw.replace(" ", ",").split(","):
        if item:
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise settings.SettingError(
                    f"{name} must list IP addresses or networks, got {item!r}"
                ) from None
    return tuple(networks)
