"""The one way the library writes a file: atomically.

Model files, checkpoints, plots and downloads are written to a temporary file beside the
target and renamed over it (`os.replace`, atomic on one file system), so a crash or Ctrl-C
never leaves a half-written file where a good one was.
"""

import os
import secrets

from ._checks import file_path


def write_atomically(path, write, make_parents=False):
    """Call ``write(file)`` on a temporary binary file beside `path`, then rename it to `path`.

    The data is flushed to disk before the rename. If `write` raises (a failed checksum, a
    full disk, KeyboardInterrupt), the temporary file is removed and `path` is untouched.
    With ``make_parents=True`` missing directories are created; otherwise a missing directory
    is a ValueError naming it. Temporary files left by a process killed mid-write are removed.
    Returns `path` as a str.
    """
    path = file_path("path", path)
    directory = os.path.dirname(os.path.abspath(path))
    if make_parents:
        os.makedirs(directory, exist_ok=True)
    elif not os.path.isdir(directory):
        raise ValueError(f"cannot write {path!r}: directory {directory!r} does not exist")
    prefix = f".{os.path.basename(path)}.tmp-"
    temporary = os.path.join(directory, prefix + secrets.token_hex(8))
    try:
        with open(temporary, "xb") as file:        # a new file with the usual mode (the umask's)
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    for name in os.listdir(directory):              # left by a process killed in the middle of a write
        if name.startswith(prefix):
            os.remove(os.path.join(directory, name))
    return path
