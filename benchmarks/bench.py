#!/usr/bin/env python
"""Performance benchmark of slotsim: the same as `slotsim bench` (see benchmarks/README.md).

    python benchmarks/bench.py --quick              # smoke test, well under a minute
    python benchmarks/bench.py --out bench.jsonl    # full benchmark, under 5 minutes

The measuring code lives in sim/bench.py so that the subcommand works from an
installed package; this script only calls it.
"""

import sys

from sim.bench import main

if __name__ == "__main__":
    sys.exit(main())
