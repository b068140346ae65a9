"""Layer 1, the search engine: adapter (:mod:`.engine`), index template and queries
(:mod:`.articles`), indexing from the archive (:mod:`.indexing`), topic percolation
(:mod:`.topics`).  Imports only ``rasd.core``."""
