"""Archive stage: every accepted article becomes one durable line of the archive
(:mod:`rasd.core.archive`), through the data directory's :class:`~rasd.pipelines.ledger.Ledger`."""

from __future__ import annotations

from rasd.pipelines.base import StagePipeline
from rasd.core.article import Article
from rasd.core.durable import DiskFull, WriteFailed


class ArchivePipeline(StagePipeline):
    """Writes each item to the archive (through the data directory's
    :class:`~rasd.pipelines.ledger.Ledger`, which then commits the seen-URL and story rows) and
    counts ``archived``.

    A full disk is counted ``failed/disk_full`` and closes the crawl (one clear error: nothing
    more can be kept; the pages are fetched again next run); another write error is
    ``failed/archive_write`` and the crawl goes on.
    """

    def __init__(self, stats=None, data_dir: str = "data", ledger=None):
        super().__init__(stats)
        self.data_dir = data_dir
        self._ledger = ledger

    @property
    def ledger(self):
        if self._ledger is None:
            from rasd.pipelines.ledger import Ledger

            self._ledger = Ledger.shared(self.data_dir)
        return self._ledger

    @classmethod
    def options_from_settings(cls, settings):
        return {"data_dir": settings.get("RASD_DATA_DIR", "data")}

    def process_item(self, item: Article, spider=None) -> Article:
        try:
            self.ledger.commit(item)
        except WriteFailed as exc:
            if not getattr(exc, "archived", False):
                if isinstance(exc, DiskFull):
                    self.disk_full(exc)
                    raise self.drop(item, "failed/disk_full", str(exc)) from None
                raise self.drop(item, "failed/archive_write", str(exc)) from None
            # archived; its seen-URL/story rows come from the line at the next start
            self.count("rasd/state/write_failed")
            if isinstance(exc, DiskFull):
                self.disk_full(exc)
        self.count_outcome(item.outlet, "archived")
        if item.duplicate_of:
            self.count(f"rasd/archived_syndicated/{item.outlet}")
        if item.relinked:  # copies archived earlier, now linked to this original
            self.count(f"rasd/archived_syndicated/{item.outlet}", len(item.relinked))
        return item

    def close_spider(self, spider=None) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
