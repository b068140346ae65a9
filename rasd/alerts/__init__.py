"""Layer 2, keyword alerts: definitions (:mod:`.model`), percolator matching (:mod:`.match`),
the archive follower (:mod:`.follower`), the outbox (:mod:`.outbox`), renderings (:mod:`.render`)
and one module per delivery channel (:mod:`.channels`).  Imports ``rasd.core`` and
``rasd.search``."""
