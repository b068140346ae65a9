"""Layer 7, the ``rasd`` command (typer): one module per command group.  May import every
layer."""
