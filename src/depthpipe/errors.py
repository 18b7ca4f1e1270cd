"""The one exception type the pipeline raises for bad input, bad data and bad params.

Stage scripts and the ``depthpipe`` command print ``str(error)`` as a single line and exit non-zero, so
every message names the file, frame, key or param at fault.
"""


class DepthpipeError(Exception):
    """A user-facing error: one line that says what is wrong and where."""
