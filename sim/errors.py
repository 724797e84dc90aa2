"""The errors a user can fix, raised by the library; the command line maps each to exit status 2.

Every one carries `messages`, one per problem; `str(error)` is those messages one per line
(a ScenarioError prefixes each with the file it is about). Nothing here knows about the
command line: sim/cli/ catches `SlotsimError` and prints it.
"""

from __future__ import annotations


class SlotsimError(Exception):
    """Base of the errors caused by input (files, values, folders), not by a bug: one message per problem."""

    def __init__(self, *messages: str):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))

    def __reduce__(self):  # survives a trip through a worker process
        return self.__class__, tuple(self.messages)


class ScenarioError(SlotsimError, ValueError):
    """Bad input: carries one message per broken rule, each naming its field."""

    def __init__(self, messages: list[str], source: str = ""):
        prefix = f"{source}: " if source else ""
        super().__init__(*(prefix + m for m in messages))
        self.messages = messages
        self.source = source

    def __reduce__(self):
        return self.__class__, (self.messages, self.source)


class InputError(SlotsimError, ValueError):
    """An invalid argument to a library function: an option's value, an output folder that cannot be
    written, a folder that is not what the function reads."""


class BaselineError(InputError):
    """A regression baseline that is missing, unreadable or corrupt (sim/regress.py)."""
