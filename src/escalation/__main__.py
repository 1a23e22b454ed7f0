"""`python -m escalation` is the `escalation` command."""

from escalation.cli import main

main()
