"""Who may use ``rasd web`` and how requests are protected.

**Binding.**  The app listens on ``web.host`` = 127.0.0.1 by default.  On any address that is
not loopback it refuses to start (:func:`check_startup`) unless ``web.auth`` is ``password``
or ``proxy``: with ``auth: none`` everyone who can reach the port would be an analyst.

**Users.**

* ``none`` — loopback only; one anonymous user who may do everything (like the CLI).
* ``password`` — ``web.users`` maps names to Argon2 hashes (``rasd web hash-password``); a
  sign-in form starts a session.  Wrong name or password: the same answer and the same work
  (a dummy hash is verified for unknown names).
* ``proxy`` — a reverse proxy in front (nginx ``auth_request``, oauth2-proxy, Authelia …)
  authenticates and sets ``web.proxy_header`` (``X-Forwarded-User``); Rasd accepts that
  header only from ``web.trusted_proxies`` and refuses every other client.  The proxy must
  remove the header from what clients send.

**Ownership** (``password``/``proxy``): an alert made in the web app records its ``owner``.
Only the owner may edit, pause, resume, delete it, change its deliveries, send it a test, or
retry/drop its outbox rows; other users see it, its preview and its history.  Alerts without
an owner (made with the CLI or a YAML file) may be changed by any signed-in user.

**Sessions** are Starlette's signed cookies (itsdangerous; ``HttpOnly``, ``SameSite=Lax``,
``Secure`` with ``web.secure_cookies``, ``web.session_max_age_seconds``).  **CSRF**: every
form carries the session's random token and every POST is refused (403) without it
(:func:`check_csrf`, compared in constant time).  **Escaping**: every template is
autoescaped; crawled text (titles, bodies, snippets) is never marked safe — highlights are
added after escaping (:func:`rasd.alerts.render.marked_html`); a Content-Security-Policy
without ``unsafe-inline`` keeps any script that got through from running
(:data:`SECURITY_HEADERS`).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from rasd.core.errors import ConfigError

#: headers on every answer (scripts and styles only from the app itself; no framing)
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only listens on this machine."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: could resolve anywhere


def check_startup(web) -> None:
    """Refuse settings that would expose the app (see the module docstring).

    Raises:
        ConfigError: one line naming the setting to change.
    """
    if web.auth == "none" and not is_loopback(web.host):
        raise ConfigError(f"web.host {web.host!r} is not a loopback address: set web.auth to password "
                          "(with web.users, `rasd web hash-password`) or proxy (behind an authenticating "
                          "reverse proxy), or bind to 127.0.0.1")
    if web.auth == "password" and not web.users:
        raise ConfigError("web.auth is password but web.users is empty: add name: <hash> pairs "
                          "(`rasd web hash-password`)")
    if web.auth == "password":
        for name, value in web.users.items():
            if not value.get_secret_value().startswith("$argon2"):
                raise ConfigError(f"web.users.{name}: not an Argon2 hash (`rasd web hash-password`)")


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` for ``web.users``."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


_DUMMY: list[str] = []


def verify_user(users: dict, name: str, password: str) -> bool:
    """Whether ``name``/``password`` sign in against ``users`` (``{name: SecretStr hash}``)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = PasswordHasher()
    stored = users.get(name)
    if stored is None:
        if not _DUMMY:
            _DUMMY.append(hasher.hash(secrets.token_hex(8)))
        try:
            hasher.verify(_DUMMY[0], password)
        except VerificationError:
            pass
        return False
    try:
        return hasher.verify(stored.get_secret_value(), password)
    except (VerificationError, InvalidHashError):
        return False


def csrf_token(session: dict) -> str:
    """The session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(session: dict, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token."""
    token = session.get("csrf")
    return bool(token and sent and hmac.compare_digest(token, sent))


def request_user(web, request) -> tuple[bool, str | None]:
    """``(allowed, user)`` for ``request``: ``user`` is ``None`` with ``auth: none``; not
    allowed means: sign in (``password``) or refuse (``proxy`` from an untrusted address or
    without the header)."""
    if web.auth == "none":
        return True, None
    if web.auth == "proxy":
        client = request.client.host if request.client else ""
        name = request.headers.get(web.proxy_header, "").strip()
        if client not in web.trusted_proxies or not name:
            return False, None
        return True, name
    name = request.session.get("user")
    return (name in web.users), name if name in web.users else None


def can_change(web, user: str | None, alert) -> bool:
    """Whether ``user`` may change ``alert`` (see *Ownership* above)."""
    return web.auth == "none" or alert.owner is None or alert.owner == user
