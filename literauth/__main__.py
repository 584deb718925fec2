"""`python -m literauth`: the same command as the `literauth` console script."""

from .cli import main

raise SystemExit(main())
