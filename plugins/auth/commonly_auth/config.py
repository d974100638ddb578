"""The auth plugin's settings, read once per app from the kernel's ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from commonly_kernel import Settings


@dataclass(frozen=True)
class AuthConfig:
    jwt_secret: str
    token_days: int
    invite_only: bool
    invite_codes: frozenset[str]
    admin_emails: frozenset[str]
    frontend_url: str
    is_production: bool
    smtp_host: str | None
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    smtp_from: str
    smtp_tls: str
    outbox: Path
    email_verification: bool
    user_cache_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        smtp_host = settings.get("SMTP_HOST")
        smtp_port = settings.get_int("SMTP_PORT", 587)
        return cls(
            jwt_secret=settings.jwt_secret,
            token_days=settings.get_int("COMMONLY_TOKEN_DAYS", 7),
            invite_only=settings.get_bool("REGISTRATION_INVITE_ONLY", settings.is_production),
            invite_codes=frozenset(code.upper() for code in settings.get_list("REGISTRATION_INVITE_CODES")),
            admin_emails=frozenset(email.lower() for email in settings.get_list("COMMONLY_ADMIN_EMAILS")),
            frontend_url=settings.frontend_url,
            is_production=settings.is_production,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            smtp_username=settings.get("SMTP_USERNAME"),
            smtp_password=settings.get("SMTP_PASSWORD"),
            smtp_from=settings.get("SMTP_FROM") or "Commonly <no-reply@localhost>",
            smtp_tls=(settings.get("SMTP_TLS") or {465: "ssl", 587: "starttls"}.get(smtp_port, "none")).lower(),
            outbox=Path(settings.get("COMMONLY_MAIL_OUTBOX") or settings.data_dir / "outbox"),
            email_verification=settings.get_bool("COMMONLY_EMAIL_VERIFICATION", smtp_host is not None),
            user_cache_seconds=settings.get_float("COMMONLY_AUTH_CACHE_SECONDS", 10.0),
        )

    @property
    def smtp_configured(self) -> bool:
        return self.smtp_host is not None
