"""The GCRA limiter's arithmetic, its memory bound, its headers and its settings."""

from __future__ import annotations

import pytest

from core import ratelimit, settings
from core.ratelimit import Decision, Limiter, Policy

# One request a second, three at once: every number below is exact in binary.
EVERY_SECOND = Policy(limit=60, burst=3, window_s=60)


def test_a_rested_key_spends_its_burst_at_once_then_is_refused():
    limiter = Limiter(EVERY_SECOND)
    answers = [limiter.check("a", 100.0) for _ in range(4)]
    assert answers[:3] == [
        Decision(True, 2, 1.0, 0.0),
        Decision(True, 1, 2.0, 0.0),
        Decision(True, 0, 3.0, 0.0),
    ]
    assert answers[3] == Decision(False, 0, 3.0, 1.0)


def test_retry_after_is_exactly_when_the_next_request_is_allowed():
    limiter = Limiter(EVERY_SECOND)
    for _ in range(3):
        limiter.check("a", 10.0)
    refused = limiter.check("a", 10.25)
    assert not refused.allowed and refused.retry_after_s == 0.75
    assert not limiter.check("a", 10.25 + 0.74).allowed
    assert limiter.check("a", 10.25 + 0.75).allowed


def test_a_refused_request_costs_nothing():
    limiter = Limiter(EVERY_SECOND)
    for _ in range(3):
        limiter.check("a", 0.0)
    for _ in range(50):
        assert not limiter.check("a", 0.5).allowed
    assert limiter.check("a", 1.0) == Decision(True, 0, 3.0, 0.0)


def test_the_steady_rate_is_the_limit():
    limiter = Limiter(Policy(limit=120, burst=10))  # two a second
    allowed = sum(limiter.check("a", step / 100).allowed for step in range(100 * 60))
    # Asking 100 times a second for [0, 60): the burst at 0, then one at 0.5, 1.0, ... 59.5.
    assert allowed == 10 + 119


def test_remaining_recovers_one_per_interval_up_to_the_burst():
    limiter = Limiter(EVERY_SECOND)
    for _ in range(3):
        limiter.check("a", 0.0)
    assert limiter.check("a", 2.0).remaining == 1
    assert limiter.check("a", 1000.0) == Decision(True, 2, 1.0, 0.0)


def test_keys_are_limited_apart():
    limiter = Limiter(EVERY_SECOND)
    for _ in range(3):
        limiter.check("noisy", 0.0)
    assert not limiter.check("noisy", 0.0).allowed
    assert limiter.check("quiet", 0.0).allowed


def test_rested_keys_are_forgotten():
    limiter = Limiter(EVERY_SECOND)
    for n in range(100):
        limiter.check(f"key{n}", 0.0)
    assert len(limiter) == 100
    # Each call forgets up to two keys that have fully rested (here all of them, after 1 s).
    for n in range(60):
        limiter.check("steady", 1.0 + n)
    assert len(limiter) == 1


def test_memory_is_capped_by_evicting_the_least_recently_seen():
    limiter = Limiter(EVERY_SECOND, max_keys=3)
    for key in ("a", "b", "c"):
        for _ in range(3):
            limiter.check(key, 0.0)
    assert not limiter.check("a", 0.0).allowed  # "a" is now the most recently seen
    limiter.check("d", 0.0)
    assert len(limiter) == 3
    assert limiter.check("b", 0.0).allowed, "b, the oldest, was evicted and starts rested"
    assert not limiter.check("a", 0.0).allowed, "a was kept"


def test_a_burst_below_one_interval_of_rounding_stays_exact():
    limiter = Limiter(Policy(limit=600, burst=1200))  # 0.1 s apart
    answers = [limiter.check("a", 0.0) for _ in range(1201)]
    assert [a.remaining for a in answers[:3]] == [1199, 1198, 1197]
    assert answers[1199].allowed and answers[1199].remaining == 0
    assert not answers[1200].allowed and answers[1200].retry_after_s == pytest.approx(0.1)


def test_the_headers_and_retry_after_are_whole_seconds():
    policy = Policy(limit=600, burst=1200)
    assert ratelimit.headers(policy, Decision(True, 7, 0.2, 0.0)) == {
        "RateLimit-Limit": "1200",
        "RateLimit-Remaining": "7",
        "RateLimit-Reset": "1",
        "RateLimit-Policy": "600;w=60;burst=1200",
    }
    assert Policy(limit=600, burst=600).describe() == "600;w=60"
    assert ratelimit.retry_after(Decision(False, 0, 5.0, 0.01)) == 1
    assert ratelimit.retry_after(Decision(False, 0, 5.0, 2.5)) == 3
    assert ratelimit.retry_after(Decision(False, 0, 5.0, 0.0)) == 1


def test_each_process_enforces_its_share():
    assert Policy(limit=600, burst=1200).share(2) == Policy(limit=300, burst=600)
    assert Policy(limit=5, burst=1).share(3) == Policy(limit=2, burst=1)
    assert Policy(limit=5, burst=1).share(0) == Policy(limit=5, burst=1)


def test_a_policy_needs_positive_numbers():
    with pytest.raises(ValueError):
        Policy(limit=0, burst=1)


def test_settings_from_the_environment():
    env = {
        "QUERY_RATE_LIMIT_PER_MIN": "30",
        "QUERY_RATE_LIMIT_BURST": "5",
        "RATE_LIMIT_IP_CEILING_PER_MIN": "100",
        "RATE_LIMIT_IP_CEILING_BURST": "50",
        "RATE_LIMIT_ENABLED": "false",
        "RATE_LIMIT_MAX_KEYS": "10",
        "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7",
        "QUERY_RATE_LIMIT_PROCESSES": "4",
        "INGEST_RATE_LIMIT_PROCESSES": "9",
    }
    query = ratelimit.RateLimitSettings.from_env(
        env, prefix="QUERY", default_quota=ratelimit.QUERY_QUOTA
    )
    assert query == ratelimit.RateLimitSettings(
        quota=Policy(30, 5),
        ip_ceiling=Policy(100, 50),
        enabled=False,
        trusted_proxies=("10.0.0.0/8", "192.168.1.7/32"),
        max_keys=10,
        processes=4,
    )
    device = ratelimit.RateLimitSettings.from_env(
        {}, prefix="INGEST_DEVICE", default_quota=ratelimit.DEVICE_QUOTA
    )
    assert device == ratelimit.INGEST_LIMITS
    assert device.trusted_proxies == ratelimit.LOOPBACK and device.processes == 1
    nobody = ratelimit.RateLimitSettings.from_env(
        {"TRUSTED_PROXIES": ""}, prefix="QUERY", default_quota=ratelimit.QUERY_QUOTA
    )
    assert nobody.trusted_proxies == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [("TRUSTED_PROXIES", "nginx"), ("QUERY_RATE_LIMIT_PER_MIN", "0"), ("RATE_LIMIT_ENABLED", "?")],
)
def test_a_bad_setting_names_its_variable(name, value):
    with pytest.raises(settings.SettingError, match=name):
        ratelimit.RateLimitSettings.from_env(
            {name: value}, prefix="QUERY", default_quota=ratelimit.QUERY_QUOTA
        )
