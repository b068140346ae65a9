"""Delivery channels: one module per channel, registered here by name.

A channel is a function ``send(target: dict, message: dict) -> None`` that raises
:class:`DeliveryError` when the attempt failed (it is retried later with the same notification
id).  ``target`` is the alert's delivery settings for that channel
(:mod:`rasd.alerts.model`), ``message`` the outbox message (:mod:`rasd.alerts.outbox`).
A new channel is one module here and one line in :data:`CHANNELS`.
"""

from __future__ import annotations

from collections.abc import Callable

from rasd.alerts.channels.base import DeliveryError

__all__ = ["CHANNELS", "DeliveryError"]

def _webhook(target: dict, message: dict) -> None:
    from rasd.alerts.channels.webhook import send

    send(target, message)


def _email(target: dict, message: dict) -> None:
    from rasd.alerts.channels.email import send

    send(target, message)


def _atom(target: dict, message: dict) -> None:
    from rasd.alerts.channels.atom import send

    send(target, message)


def _apprise(target: dict, message: dict) -> None:
    from rasd.alerts.channels.apprise import send

    send(target, message)


#: channel name → sender; the names are the alert's ``deliveries`` keys
CHANNELS: dict[str, Callable[[dict, dict], None]] = {"webhook": _webhook, "email": _email, "atom": _atom,
                                                   "apprise": _apprise}
