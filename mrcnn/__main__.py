"""``python -m mrcnn``: the command line (see :mod:`mrcnn.cli`)."""

import sys

from mrcnn.cli import main

sys.exit(main())
