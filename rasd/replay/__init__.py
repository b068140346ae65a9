"""Layer 5, replaying recordings: the loopback server (:mod:`.server`), the download handler
that maps real URLs to it (:mod:`.handler`) and the recording generator (:mod:`.recording`).
Imports the layers up to ``rasd.crawler``."""
