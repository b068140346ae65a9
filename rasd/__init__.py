"""Rasd (رصد): a scheduled news-monitoring crawler for Arabic outlets.

One import package in layers; each layer imports only the layers before it (checked by
``tests/test_shape.py``):

===================  ======================  ==================================================
layer                folder                  what
===================  ======================  ==================================================
``rasd.core``        ``rasd/core/``          the record, settings, seeds, Arabic folding, errors,
                                             URL identity, date text, the archive, durable writes,
                                             the SQLite connection policy
``rasd.search``      ``rasd/search/``        engine adapter, index template, queries, indexing,
                                             topic percolation
``rasd.alerts``      ``rasd/alerts/``        alert model, matcher, follower, outbox, channels
``rasd.pipelines``   ``pipelines/``          the stages (pure functions + thin Scrapy pipelines)
``rasd.crawler``     ``crawler/``            the Scrapy project: spider, listings, middlewares
``rasd.replay``      ``rasd/replay/``        the replay server, its download handler, recordings
``rasd.scheduler``   ``scheduler/``          APScheduler daemon, child runs, run history
``rasd.web``         ``rasd/web/``           the web app (``rasd web``): search, stories,
                                             alerts, outbox, outlet health
``rasd.cli``         ``rasd/cli/``           the ``rasd`` command
===================  ======================  ==================================================

``config/`` and ``seeds/`` are package data (``rasd.config``, ``rasd.seeds``;
:mod:`rasd.core.paths`).
"""

__version__ = "0.1.0"

#: the layers, lowest first: a module may import its own layer and those before it
LAYERS = ("rasd.core", "rasd.search", "rasd.alerts", "rasd.pipelines", "rasd.crawler",
          "rasd.replay", "rasd.scheduler", "rasd.web", "rasd.cli")
