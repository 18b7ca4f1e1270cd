"""Every failure a person can meet, as one line and an exit code: the one place where the ``depthpipe`` verbs
(:func:`depthpipe.cli.main`) and the DVC stages (:func:`depthpipe.stage_runner.run_stage`) turn an exception
into what they print.

- :class:`~depthpipe.errors.DepthpipeError`: its own message (bad input, bad params, a missing alias, a busy
  port, an unusable store: raised where the file, alias, port or store is known);
- :class:`OSError`: the file and what the system said, with what to do for a full disk (``ENOSPC``), a
  read-only file system (``EROFS``), a refused permission; HDF5's errors (``OSError`` without an errno, such as
  "truncated file") too;
- a torch file that cannot be read (a truncated ``.pt`` or ``.pt2`` zip archive);
- a failure of MLflow or its store: the store, never its credentials.

Anything else is a bug and keeps its traceback. ``DEPTHPIPE_TRACEBACK=1`` shows the traceback of every one.

Exit codes (README, "Failures and exit codes"): :data:`EXIT_OK`, :data:`EXIT_FAILED` (a verb or stage that
could not do its work; ``gate``: a regression), :data:`EXIT_USAGE` (a command line argparse refuses; ``gate``:
no comparison could be made, whatever the reason), :data:`EXIT_INTERRUPTED` (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback

from depthpipe.errors import DepthpipeError, one_line
from depthpipe.tracking.store import is_tracking_failure, redacted_text, shown

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_REMEDY = {
    errno.ENOSPC: "no space left on its disk: free some and run again",
    errno.EDQUOT: "disk quota exceeded: free some space and run again",
    errno.EFBIG: "the file is larger than its file system allows",
    errno.EROFS: "its file system is mounted read-only: write somewhere else or remount it read-write",
    errno.EACCES: "permission denied: fix its permissions or run as a user who may",
    errno.EPERM: "operation not permitted: fix its permissions or run as a user who may",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "it is a directory, not a file",
}
_H5_ERRNO = re.compile(r"errno = (\d+)")
_H5_FILENAME = re.compile(r"filename = '([^']+)'")
_TORCH_ARCHIVE = ("PytorchStreamReader", "PytorchStreamWriter", "central directory", "zip archive")


def os_error_line(exc: OSError, path: object = None) -> str:
    """One line for ``exc`` naming ``path`` (default: the file the exception names) and what to do."""
    name = path if path is not None else exc.filename
    if name is None:  # HDF5 names the file inside its message
        found_name = _H5_FILENAME.search(str(exc))
        name = found_name.group(1) if found_name else None
    if name is not None and exc.filename2 is not None and path is None:
        name = f"{name} -> {exc.filename2}"
    code = exc.errno
    if code is None:  # HDF5 reports the system error inside its message
        found = _H5_ERRNO.search(str(exc))
        code = int(found.group(1)) if found else None
    if code in _REMEDY:
        what = f"{_REMEDY[code]} [errno {code} {errno.errorcode[code]}]"
    elif exc.strerror:
        what = f"{exc.strerror} [errno {code}]"
    else:
        what = one_line(exc)
        if "HDF5" in what or "synchronously" in what or "file signature" in what or "truncated" in what:
            what = f"not a readable HDF5 file ({what})"
    return f"{name}: {what}" if name is not None else what


def is_torch_archive_error(exc: BaseException) -> bool:
    """Whether ``exc`` is torch failing to read or write its zip archive (a truncated or corrupt file)."""
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in _TORCH_ARCHIVE)


def describe(exc: BaseException) -> str | None:
    """The message to print for ``exc`` (one line, or one line per problem for a :class:`DepthpipeError` that
    lists several), or None for an exception that is a bug."""
    if isinstance(exc, DepthpipeError):
        return redacted_text(str(exc))
    if is_tracking_failure(exc):
        return f"MLflow store {shown()}: {type(exc).__name__}: {redacted_text(one_line(exc))}"
    if isinstance(exc, OSError):
        return redacted_text(os_error_line(exc))
    if is_torch_archive_error(exc):
        reason = one_line(exc).split(". ")[0]
        return f"a torch file is truncated or corrupt ({reason}); run the stage that makes it again"
    return None


def exit_code(command: str) -> int:
    """The exit code of ``command`` (a verb or stage) when it fails with a described error."""
    return EXIT_USAGE if command == "gate" else EXIT_FAILED


def report(prefix: str, exc: BaseException) -> bool:
    """Print ``exc`` as ``<prefix>: error: <line>`` on stderr (after its traceback with ``DEPTHPIPE_TRACEBACK=1``);
    False, printing nothing, for an exception that is a bug: the caller raises it again."""
    message = describe(exc)
    if message is None:
        return False
    if os.environ.get("DEPTHPIPE_TRACEBACK"):
        traceback.print_exception(exc)
    for line in message.splitlines():
        print(f"{prefix}: error: {line}", file=sys.stderr)
    return True
