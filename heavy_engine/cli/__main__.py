"""`python -m heavy_engine.cli` is `heavy`."""

import sys

from . import main

sys.exit(main())
