"""`python -m literauth`: the same command as the `literauth` console script."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command is still being imported
    sys.stderr.write("\nliterauth: interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(main())
