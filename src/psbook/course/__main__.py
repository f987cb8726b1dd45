"""``python -m psbook.course build [--check]`` (see :mod:`psbook.course.build`)."""

import sys

from .build import main

sys.exit(main())
