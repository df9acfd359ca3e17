"""``python -m engagekit``: the command line of :mod:`engagekit.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
