"""Run the web app: :func:`serve` (what ``rasd web`` calls)."""

from __future__ import annotations

from rasd.web.auth import check_startup


def serve(settings, *, host: str | None = None, port: int | None = None, log_level: str = "info") -> None:
    """Serve :func:`rasd.web.app.create_app` with uvicorn on ``host``:``port`` (default: the
    settings' ``web.host``/``web.port``) until SIGINT/SIGTERM.

    Raises:
        ConfigError: the address needs authentication that is not configured
            (:func:`rasd.web.auth.check_startup`).
    """
    import uvicorn

    from rasd.web.app import create_app

    web = settings.web.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    settings = settings.model_copy(update={"web": web})
    check_startup(web)
    uvicorn.run(create_app(settings), host=web.host, port=web.port, log_level=log_level,
                proxy_headers=False, server_header=False, access_log=False)
