"""``python -m rasd.cli``: the ``rasd`` command."""

from rasd.cli.main import main

main()
