"""Email transport: plain-text mail through the server's SMTP relay (``smtplib``).

Settings come from the server environment: ``OCELOT_SMTP_HOST`` (no host: email is off and a
build that asks for it gets a ``failed`` attempt saying so), ``OCELOT_SMTP_PORT`` (25),
``OCELOT_SMTP_STARTTLS`` (off), ``OCELOT_SMTP_USER`` / ``OCELOT_SMTP_PASSWORD`` (login when
set), ``OCELOT_SMTP_FROM``. SMTP 4xx answers and connection problems are transient (retried);
5xx answers and refused logins are not.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from ocelot.notifiers.base import NotifierError, TransientNotifierError, scrub
from ocelot.notifiers.message import Message
from ocelot.settings import Settings

TIMEOUT = 20


class EmailNotifier:
    """Sends one message to a list of addresses."""

    kind = "email"

    def __init__(self, settings: Settings, to: Sequence[str]) -> None:
        if not settings.smtp_host:
            raise NotifierError("email notifications need OCELOT_SMTP_HOST on the server")
        if not to:
            raise NotifierError("notify.email.to names no address")
        self.settings, self.to = settings, list(to)

    @property
    def target(self) -> str:
        return ", ".join(self.to)

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.settings.smtp_from
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain="ocelot")
        mail["X-Ocelot-Build"] = str(message.build_id)
        mail.set_content(message.as_text())
        return mail

    def send(self, message: Message) -> None:
        mail = self.build(message)
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=TIMEOUT) as smtp:
                smtp.ehlo()
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                refused = smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifierError(self._scrub(f"SMTP login refused: {exc.smtp_code}")) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise self._by_code(min(codes), f"SMTP refused every recipient: {codes}") from None
        except smtplib.SMTPResponseException as exc:
            detail = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise self._by_code(exc.smtp_code, f"SMTP {exc.smtp_code}: {detail}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientNotifierError(
                self._scrub(f"SMTP server {s.smtp_host}:{s.smtp_port} unreachable: {exc}")
            ) from None
        if refused:
            raise NotifierError(f"SMTP refused some recipients: {', '.join(sorted(refused))}")

    def _scrub(self, text: str) -> str:
        return scrub(text, (self.settings.smtp_password,))

    def _by_code(self, code: int, text: str) -> NotifierError:
        text = self._scrub(text)
        return TransientNotifierError(text) if 400 <= code < 500 else NotifierError(text)


def make_email(config: Mapping[str, Any], settings: Settings) -> EmailNotifier:
    """A notifier for the ``notify.email`` block of ocelot.yml."""
    return EmailNotifier(settings, [str(a) for a in config.get("to") or []])
