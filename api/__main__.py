"""``python -m api`` runs the ``esign`` command (for environments without the console script)."""

from api.cli import main

main()
