"""The one exception type the pipeline raises for bad input, bad data and bad params.

Stage scripts and the ``depthpipe`` command print ``str(error)`` as a single line and exit non-zero, so
every message names the file, frame, key or param at fault.
"""


class DepthpipeError(Exception):
    """A user-facing error: one line that says what is wrong and where."""


def one_line(exc: BaseException) -> str:
    """The whole message of ``exc`` on one line: its lines joined, runs of whitespace collapsed, never cut."""
    return " ".join(str(exc).split()) or type(exc).__name__
