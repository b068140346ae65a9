"""What every delivery channel shares: :class:`DeliveryError`."""

from __future__ import annotations

from rasd.core.errors import RasdError


class DeliveryError(RasdError):
    """One delivery attempt failed (server down, HTTP error, SMTP refusal); retried later."""
