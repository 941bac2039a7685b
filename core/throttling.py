"""Rate limits over HTTP: who a request comes from, the middleware that limits it, its headers.

A client is its credential when it presents one, and its IP address otherwise. The credential is
never looked up (that would cost a database round trip before the limit): the credential
material the request carries (the `Authorization` header, a `key` header, an `access_token`
parameter) is hashed, and the hash is the client. HTTP Basic carries a password, which could be
guessed afresh on every request, so it counts as anonymous. Made-up tokens would each be a new
client, so every request also counts against a per-IP ceiling, far above any one quota, that a
client cannot dodge. The client IP is the peer's address, or the address a trusted proxy
(nginx) reports in `X-Real-IP` / `X-Forwarded-For`; an IPv6 client is its /64, which one host
can fill.

Each service says which requests count against its quota and under which key (`QuotaKey`): the
query service limits every client, the gateway limits readings posts per device. Health,
readiness and the OpenAPI document are never limited. Allowed and refused answers carry
`RateLimit-Limit`, `-Remaining`, `-Reset` and `-Policy`; a refused request is a 429 in the error
model with `Retry-After`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple

from aiohttp import typedefs, web

from core import credentials, errors, ratelimit
from core.web import Handler

logger = logging.getLogger(__name__)

_REPORT_EVERY_S = 60.0
_PEERS_KEPT = 4096
UNLIMITED_PATHS = frozenset({"/health", "/ready", "/openapi.json"})
_CREDENTIAL_PARAMETER = "access_token"


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Client(NamedTuple):
    """Who sent a request: its IP key, and the hash of its credential material if it has any."""

    ip: str
    credential: str | None


# The key a request counts under against the service's quota, or None: the IP ceiling only.
QuotaKey = Callable[[web.Request, Client], str | None]


def per_client(_request: web.Request, client: Client) -> str:
    """Every request counts against its client's quota: its credential's, or its IP's."""
    return f"credential:{client.credential}" if client.credential else f"ip:{client.ip}"


class Throttle:
    """One service's limiters: its quota and the per-IP ceiling, on a replaceable clock."""

    def __init__(
        self,
        config: ratelimit.RateLimitSettings,
        quota_key: QuotaKey,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.quota_key = quota_key
        self.clock = clock
        self.quota = ratelimit.Limiter(
            config.quota.share(config.processes), max_keys=config.max_keys
        )
        self.ceiling = ratelimit.Limiter(
            config.ip_ceiling.share(config.processes), max_keys=config.max_keys
        )
        # `RateLimit-Policy` of an answer: both policies when the quota counted it, else the
        # ceiling's alone (written once: they do not change).
        self._both_described = f"{self.quota.policy.describe()}, {self.ceiling.policy.describe()}"
        self._ceiling_described = self.ceiling.policy.describe()
        self.trusted = tuple(ipaddress.ip_network(n) for n in config.trusted_proxies)
        # A service sees few distinct peers (nginx, or its clients), and parsing one, checking it
        # against the trusted proxies and writing its key cost more than the rest of the limiter:
        # each peer's key, and whether it is a trusted proxy, are remembered (a few thousand).
        self._peers: dict[str | None, tuple[str, bool]] = {}
        self.refused = 0  # since start
        self._unreported = 0
        self._reported_at = -math.inf

    def client(self, request: web.Request) -> Client:
        """The client of `request`: the peer, or the client a trusted proxy reports, and the
        hash of its credential material (see the module docstring)."""
        remote = request.remote
        peer = self._peers.get(remote)
        if peer is None:
            if len(self._peers) >= _PEERS_KEPT:
                self._peers.clear()
            peer = self._peers[remote] = _peer(remote, self.trusted)
        ip, behind_proxy = peer
        if behind_proxy:
            ip = _reported(request, self.trusted) or ip
        return Client(ip, credential_hash(request))

    def check(self, request: web.Request) -> None:
        """Count `request`; remember the headers to send, or raise TooManyRequests."""
        client = self.client(request)
        now = self.clock()
        ceiling = self.ceiling.check(f"ip:{client.ip}", now)
        # A request the ceiling refuses spends nothing of the quota.
        key = self.quota_key(request, client) if ceiling.allowed else None
        if key is None:
            policy, decision, described = self.ceiling.policy, ceiling, self._ceiling_described
        else:
            quota = self.quota.check(key, now)
            # Report the tightest limit (the quota when they tie); a refusal is always the
            # tightest.
            if (ceiling.allowed, ceiling.remaining) < (quota.allowed, quota.remaining):
                policy, decision = self.ceiling.policy, ceiling
            else:
                policy, decision = self.quota.policy, quota
            described = self._both_described
        # ratelimit.headers, with the policies of both limits.
        answer = {
            "RateLimit-Limit": str(policy.burst),
            "RateLimit-Remaining": str(decision.remaining),
            "RateLimit-Reset": str(math.ceil(decision.reset_s)),
            "RateLimit-Policy": described,
        }
        request[_answer_key] = answer
        if not decision.allowed:
            wait = ratelimit.retry_after(decision)
            self._note_refusal(request, client, wait, now)
            whose = "this address's" if key is None else "your"
            raise errors.TooManyRequests(
                f"Too many requests: {whose} limit is {policy.limit} per {policy.window_s} s, "
                f"{policy.burst} at once; retry after {wait} s",
                code="rate_limited",
                headers={"Retry-After": str(wait)},
            )

    def _note_refusal(self, request: web.Request, client: Client, wait: int, now: float) -> None:
        """Count a refusal; log each at DEBUG and, at most once a minute, a WARNING summary."""
        self.refused += 1
        self._unreported += 1
        extra = {"action": "rate_limited", "client_ip": client.ip, "retry_after_s": wait}
        logger.debug("rate limited %s %s", request.method, request.path, extra=extra)
        if now - self._reported_at >= _REPORT_EVERY_S:
            logger.warning(
                "refused %d requests over their rate limits since the last report; "
                "the latest from %s",
                self._unreported,
                client.ip,
                extra={**extra, "action": "rate_limited_summary", "refused": self._unreported},
            )
            self._reported_at, self._unreported = now, 0


throttle_key = web.AppKey("throttle", Throttle)
_answer_key: web.RequestKey[dict[str, str]] = web.RequestKey("rate_limit_headers")


def install(app: web.Application, throttle: Throttle) -> None:
    """Keep `throttle` under `throttle_key` and put its headers on every limited answer.

    The headers are added as the response is prepared, so streamed answers and the error
    middleware's answers carry them too. Put `middleware(throttle)` in the app's middlewares
    right after the error middleware.
    """
    app[throttle_key] = throttle
    app.on_response_prepare.append(_add_headers)


def middleware(throttle: Throttle) -> typedefs.Middleware:
    """The middleware that counts each request (unless limits are off or the path is exempt)."""

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if throttle.config.enabled and request.path not in UNLIMITED_PATHS:
            throttle.check(request)
        return await handler(request)

    return rate_limit


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    answer = request.get(_answer_key)
    if answer is not None:
        response.headers.update(answer)


def credential_hash(request: web.Request) -> str | None:
    """A short SHA-256 of the credential material the request carries, or None without any.

    HTTP Basic is no credential here: it carries a password, and each guess would be a new
    client with a fresh quota, so a request that signs in with one counts under its address.
    """
    authorization = request.headers.get("Authorization", "")
    if authorization[:6].lower() == "basic ":
        authorization = ""
    parts = [authorization, request.headers.get(credentials.KEY_HEADER, "")]
    # Without a query string there is no parameter to parse.
    parts.append(request.query.get(_CREDENTIAL_PARAMETER, "") if request.query_string else "")
    if not any(parts):
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _peer(remote: str | None, trusted: tuple[Network, ...]) -> tuple[str, bool]:
    """The peer's key (its address, or `remote` as it is if that is none) and whether it is a
    trusted proxy."""
    peer = _address(remote)
    if peer is None:
        return remote or "unknown", False
    return _key(peer), any(peer in network for network in trusted)


def _reported(request: web.Request, trusted: tuple[Network, ...]) -> str | None:
    """The key of the client a trusted proxy reports, if it reports one that can be read."""
    reported = _address(request.headers.get("X-Real-IP"))
    if reported is None:
        reported = _forwarded_for(request.headers.getall("X-Forwarded-For", []), trusted)
    return None if reported is None else _key(reported)


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_for(values: list[str], trusted: tuple[Network, ...]) -> Address | None:
    """The nearest address in `X-Forwarded-For` that is not a trusted proxy (the last hop we trust
    appended it; anything further left the client could have written)."""
    hops = [hop for value in values for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return None
        if not any(address in network for network in trusted):
            return address
    return None


def _key(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
