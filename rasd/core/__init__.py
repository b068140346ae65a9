"""Layer 0, the ground floor: what every other layer shares.  Imports only ``rasd.core``."""
