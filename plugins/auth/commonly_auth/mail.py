"""Outgoing mail: SMTP when configured (aiosmtplib), else the development outbox folder.

Routes send mail from background tasks (``kernel.spawn``), so a request's timing never reveals
whether an account exists. Logs name recipient and subject, never a body: bodies carry reset and
verification links.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from email.message import EmailMessage

import aiosmtplib

from commonly_kernel import Kernel

from .config import AuthConfig

log = logging.getLogger("commonly.auth.mail")


class Mailer:
    def __init__(self, config: AuthConfig) -> None:
        self._config = config

    async def send(self, to: str, subject: str, text: str) -> None:
        """Send one plain-text mail; failures are logged, never raised."""
        message = EmailMessage()
        message["From"] = self._config.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = f"<{uuid.uuid4().hex}@commonly>"
        message.set_content(text)
        try:
            if self._config.smtp_configured:
                await self._smtp(message)
            elif not self._config.is_production:
                await asyncio.to_thread(self._write_outbox, message)
            else:
                log.warning("SMTP is not configured (SMTP_HOST); mail to %s (%r) not sent", to, subject)
                return
        except Exception as error:
            log.error("mail to %s (%r) failed: %s", to, subject, type(error).__name__)
            return
        log.info("mail to %s: %r", to, subject)

    async def _smtp(self, message: EmailMessage) -> None:
        config = self._config
        await aiosmtplib.send(
            message,
            hostname=config.smtp_host,
            port=config.smtp_port,
            username=config.smtp_username,
            password=config.smtp_password,
            use_tls=config.smtp_tls == "ssl",
            start_tls=config.smtp_tls == "starttls",
            timeout=30,
        )

    def _write_outbox(self, message: EmailMessage) -> None:
        self._config.outbox.mkdir(parents=True, exist_ok=True)
        path = self._config.outbox / f"{uuid.uuid4().hex}.eml"
        path.write_bytes(bytes(message))


def send_later(kernel: Kernel, config: AuthConfig, to: str, subject: str, text: str) -> None:
    """Send after the response, from a task the kernel tracks (and waits for on shutdown)."""
    kernel.spawn(Mailer(config).send(to, subject, text), name=f"mail to {to}")
