"""``rasd web``: the analysts' web app — search, stories, alerts, outbox, outlet health.

Server-rendered (Starlette + Jinja2 templates, plain forms and a few lines of JavaScript for
the live query check and preview; no build chain), Arabic first and right to left, English
labels at ``/lang/en``.  :func:`rasd.web.app.create_app` builds the ASGI app from
:class:`~rasd.core.settings.RasdSettings`; :func:`rasd.web.server.serve` runs it with uvicorn
after :func:`rasd.web.auth.check_startup` (the security model is in :mod:`rasd.web.auth`).
"""
