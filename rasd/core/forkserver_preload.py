"""Imported first by the extraction workers' fork server (``rasd.pipelines.workers.PRELOAD``),
never by a crawl: it makes the fork server ignore SIGINT while it imports the rest.

A terminal's Ctrl-C signals the whole process group.  The fork server, still importing
trafilatura and Rasd's extraction modules, printed a ``KeyboardInterrupt`` traceback and died,
and a stop in that window could wait for the 10 s stop watchdog.  The crawl process alone
handles Ctrl-C (:class:`rasd.crawler.stopping.CleanStop`) and stops the pool; the workers
ignore SIGINT too (``rasd.pipelines.workers._init_worker``).  CPython's fork server ignores
SIGINT itself, but only once its preload imports are done.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
