"""Exit statuses of `slotsim`."""

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2  # 1: a check failed (regress); 2: bad input (a SlotsimError)
EXIT_INTERRUPTED = 130  # Ctrl-C
