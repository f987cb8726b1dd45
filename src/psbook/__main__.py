"""``python -m psbook align ...``: the same as the ``psbook`` console script."""

import sys

from .cli import main

sys.exit(main())
