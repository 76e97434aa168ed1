"""Files written safely: replaced whole or not at all, and locked between processes."""

import contextlib
import fcntl
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="w", **kwargs):
    """Yields a file opened beside `path` that replaces `path` when the block ends without error.

    A process killed at any point leaves `path` as it was before or as the
    block wrote it, never half-written; on an error the temporary file is
    removed and `path` is untouched.

    Example:

    ```python
    with atomic_write("report.json") as file:
        file.write(text)
    ```
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, mode, **kwargs) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(path, wait=True, remove=False):
    """Holds an exclusive `flock` on `path` (created if needed) for the block.

    The system releases the lock when its process ends, however it ends, so
    a killed process leaves no stale lock.

    Args:
        path: the lock file.
        wait: wait for another holder to release it; with `False` the block
            gets `None` instead when another process holds it.
        remove: delete the lock file when the block ends (a process that
            opened the file before its removal retries on the new one).

    Yields:
        The open lock file (read and write), or `None` (see `wait`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        file = open(path, "a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            yield None
            return
        if path.exists() and os.fstat(file.fileno()).st_ino == path.stat().st_ino:
            break
        file.close()  # its last holder removed it after we opened it
    try:
        yield file
    finally:
        if remove:
            path.unlink(missing_ok=True)
        file.close()
