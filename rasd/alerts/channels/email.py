"""E-mail channel: HTML right-to-left with the matched words marked, plus plain text, over SMTP."""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from rasd.alerts.channels.base import DeliveryError
from rasd.alerts.render import render_html, render_subject, render_text


def build_email(target: dict, message: dict) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = render_subject(message)
    mail["From"] = target.get("from", "rasd@localhost")
    mail["To"] = ", ".join(target["to"])
    mail["Date"] = formatdate(localtime=False)
    # a stable Message-ID: a retried delivery is the same message (mail clients drop repeats)
    mail["Message-ID"] = f"<{message['id']}@rasd.local>" if message.get("id") else make_msgid(domain="rasd.local")
    mail.set_content(render_text(message))
    mail.add_alternative(render_html(message), subtype="html")
    return mail


def send(target: dict, message: dict, timeout: float = 30.0) -> None:
    mail = build_email(target, message)
    password = None
    if target.get("username"):
        env = target.get("password_env") or ""
        password = os.environ.get(env)
        if password is None:
            raise DeliveryError(f"email: environment variable {env!r} (password_env) is not set")
    try:
        with smtplib.SMTP(target["smtp_host"], target["smtp_port"], timeout=timeout) as smtp:
            if target.get("starttls"):
                smtp.starttls()
            if password is not None:
                smtp.login(target["username"], password)
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email via {target['smtp_host']}:{target['smtp_port']}: {exc}") from None


send_email = send
