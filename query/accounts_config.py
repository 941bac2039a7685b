"""Settings of accounts: token lifetimes, password resets and how mail leaves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core import settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MAIL_BACKENDS = ("spool", "smtp")


# Not slotted: from_env reads the defaults as class attributes.
@dataclass(frozen=True)
class AccountSettings:
    """Token lifetimes, password resets and the mailer (`spool` files or `smtp`)."""

    access_token_ttl_s: int = 2 * 3600
    refresh_token_ttl_s: int = 30 * 86400
    password_reset_ttl_s: int = 3600
    mail_backend: str = "spool"
    mail_spool_dir: Path = PROJECT_ROOT / ".local" / "mail"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = "Sensorium <no-reply@sensorium.invalid>"
    smtp_starttls: bool = False
    public_url: str = "http://localhost:8000"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AccountSettings:
        """Settings from *_TTL_S, MAIL_*, SMTP_* and PUBLIC_URL."""
        backend = settings.get_str(env, "MAIL_BACKEND", cls.mail_backend).lower()
        if backend not in MAIL_BACKENDS:
            raise settings.SettingError(f"MAIL_BACKEND must be spool or smtp, got {backend!r}")
        spool = Path(settings.get_str(env, "MAIL_SPOOL_DIR", str(cls.mail_spool_dir)))
        return cls(
            access_token_ttl_s=settings.get_int(
                env, "ACCESS_TOKEN_TTL_S", cls.access_token_ttl_s, minimum=1
            ),
            refresh_token_ttl_s=settings.get_int(
                env, "REFRESH_TOKEN_TTL_S", cls.refresh_token_ttl_s, minimum=1
            ),
            password_reset_ttl_s=settings.get_int(
                env, "PASSWORD_RESET_TTL_S", cls.password_reset_ttl_s, minimum=1
            ),
            mail_backend=backend,
            mail_spool_dir=spool if spool.is_absolute() else PROJECT_ROOT / spool,
            smtp_host=settings.get_str(env, "SMTP_HOST", cls.smtp_host),
            smtp_port=settings.get_int(env, "SMTP_PORT", cls.smtp_port, minimum=1),
            smtp_user=settings.get_str(env, "SMTP_USER", cls.smtp_user),
            smtp_password=settings.get_str(env, "SMTP_PASSWORD", cls.smtp_password),
            smtp_from=settings.get_str(env, "SMTP_FROM", cls.smtp_from),
            smtp_starttls=settings.get_bool(env, "SMTP_STARTTLS", cls.smtp_starttls),
            public_url=settings.get_str(env, "PUBLIC_URL", cls.public_url).rstrip("/"),
        )
