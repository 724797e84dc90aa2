"""`slotsim` command line: the argparse definitions, the commands, and domain errors -> exit status 2.

main.py builds the parser from one module per command group (run.py: run and validate;
bench.py; compare.py; batch.py; report.py; regress.py), runs the command and maps every
`sim.errors.SlotsimError` the library raises to exit status 2 with its message, one line
per message, and KeyboardInterrupt to 130. The library itself knows nothing of this package.
"""

from ..errors import InputError
from .bench import BENCHMARK
from .main import COMMANDS, build_parser, main
from .status import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK

# The name the command line has always used for a user error (benchmarks/bench.py imports it).
BadInput = InputError

__all__ = [
    "BENCHMARK",
    "COMMANDS",
    "EXIT_BAD_INPUT",
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "BadInput",
    "build_parser",
    "main",
]
