"""Run the web app: :func:`serve` (what ``rasd web`` calls)."""

from __future__ import annotations

from rasd.web.auth import check_startup


def serve(settings, *, host: str | None = None, port: int | None = None, log_level: str = "info",
          announce=None) -> None:
    """Serve :func:`rasd.web.app.create_app` with uvicorn on ``host``:``port`` (default: the
    settings' ``web.host``/``web.port``) until SIGINT/SIGTERM.  The socket is bound here, before
    uvicorn starts, so an address in use is one error; ``announce(url)`` is called once it is
    bound (``rasd web`` prints the URL then, not before a refusal).

    Raises:
        ConfigError: the address needs authentication that is not configured
            (:func:`rasd.web.auth.check_startup`), or cannot be listened on (in use, not an
            address of this machine, a port out of range).
    """
    import socket

    import uvicorn

    from rasd.core.errors import ConfigError
    from rasd.web.app import create_app

    web = settings.web.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    settings = settings.model_copy(update={"web": web})
    check_startup(web)
    try:
        family = socket.getaddrinfo(web.host, web.port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((web.host, web.port))
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot listen on {web.host}:{web.port}: {reason}") from None
    if announce is not None:
        announce(f"http://{web.host}:{sock.getsockname()[1]}/")
    config = uvicorn.Config(create_app(settings), host=web.host, port=web.port, log_level=log_level,
                            proxy_headers=False, server_header=False, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
