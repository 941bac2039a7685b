"""Remembered password checks: successes only, briefly, forgotten on demand, bounded."""

from __future__ import annotations

import time

import pytest

from core import settings as core_settings
from query import signin
from query.accounts_config import AccountSettings


def test_a_check_is_remembered_until_its_time_is_up(monkeypatch):
    recent = signin.RecentLogins(ttl_s=5.0)
    key = recent.key("ada", "secret")
    recent.put(key, 7)
    assert recent.get(key) == 7
    assert recent.get(recent.key("ada", "other")) is None
    later = time.monotonic() + 6
    monkeypatch.setattr(signin.time, "monotonic", lambda: later)
    assert recent.get(key) is None


def test_the_key_depends_on_both_login_and_password():
    key = signin.RecentLogins.key
    assert key("ada", "b:c") != key("ada:b", "c")
    assert key("ada", "x") != key("Ada", "x")
    assert len(key("ada", "x")) == 32


def test_forget_drops_every_entry_of_a_user():
    recent = signin.RecentLogins()
    recent.put(recent.key("ada", "one"), 1)
    recent.put(recent.key("ada@example.org", "one"), 1)
    recent.put(recent.key("bob", "two"), 2)
    recent.forget(1)
    assert recent.get(recent.key("ada", "one")) is None
    assert recent.get(recent.key("ada@example.org", "one")) is None
    assert recent.get(recent.key("bob", "two")) == 2


def test_it_stays_bounded():
    recent = signin.RecentLogins(max_entries=3)
    for n in range(10):
        recent.put(recent.key(f"user{n}", "pw"), n)
    assert len(recent._entries) <= 3
    assert recent.get(recent.key("user9", "pw")) == 9


def test_account_settings_from_the_environment(tmp_path):
    settings = AccountSettings.from_env(
        {
            "ACCESS_TOKEN_TTL_S": "60",
            "REFRESH_TOKEN_TTL_S": "120",
            "PASSWORD_RESET_TTL_S": "30",
            "MAIL_BACKEND": "SMTP",
            "MAIL_SPOOL_DIR": str(tmp_path),
            "SMTP_PASSWORD": "hunter2",
            "PUBLIC_URL": "https://sensors.example/",
        }
    )
    assert (settings.access_token_ttl_s, settings.refresh_token_ttl_s) == (60, 120)
    assert settings.password_reset_ttl_s == 30 and settings.mail_backend == "smtp"
    assert settings.mail_spool_dir == tmp_path and settings.public_url == "https://sensors.example"
    assert "hunter2" not in repr(settings)
    defaults = AccountSettings.from_env({})
    assert defaults.mail_spool_dir.parts[-2:] == (".local", "mail")
    assert defaults.access_token_ttl_s == 7200 and defaults.refresh_token_ttl_s == 30 * 86400


def test_an_unknown_mailer_stops_the_process_naming_the_variable():
    with pytest.raises(core_settings.SettingError, match="MAIL_BACKEND"):
        AccountSettings.from_env({"MAIL_BACKEND": "carrier-pigeon"})
