"""``python -m service`` runs the ``fanout`` command."""

from service.cli import main

main()
