"""``python -m governance`` runs the command line."""

from governance.cli import main

main()
