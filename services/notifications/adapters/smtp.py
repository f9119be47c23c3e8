"""Sends one rendered message over SMTP as a multipart (text + HTML) MIME message."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib

from services.notifications.adapters.rendering import RenderedMessage


def build_message(
    rendered: RenderedMessage,
    *,
    sender: tuple[str, str],
    recipient: tuple[str, str],
    notification_id: str,
    unsubscribe_url: str | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr(sender)
    message["To"] = formataddr(recipient)
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(idstring=notification_id, domain=sender[1].rpartition("@")[2] or None)
    message["X-Retention-Notification-Id"] = notification_id
    if reply_to:
        message["Reply-To"] = reply_to
    if unsubscribe_url:  # RFC 2369 + RFC 8058: mail clients show "unsubscribe" and POST to it in one click
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


class SmtpSender:
    def __init__(self, host: str, port: int, *, timeout_s: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> str:
        await aiosmtplib.send(message, hostname=self.host, port=self.port, timeout=self.timeout_s)
        return str(message["Message-ID"])
