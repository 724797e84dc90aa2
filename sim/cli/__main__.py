"""`python -m sim.cli`: the `slotsim` command without its console script."""

import sys

from .main import main

sys.exit(main())
