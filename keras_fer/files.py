"""Files written safely: replaced whole or not at all, and locked between processes."""

import collections
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import time
from pathlib import Path

PAUSE_VARIABLE = "KERAS_FER_PAUSE_BEFORE_REPLACING"
TEMPORARY = re.compile(r"^\..+\.\d+\.(tmp(\.[^.]+)?|old)$")  # the names atomic_path gives its temporary and old copies
_replacements = collections.Counter()


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`, with its suffix, that replaces `path` when the block ends without error.

    For writers that take a path, not a file (`model.save`, `savefig`, an
    exporter that writes a folder). A process killed at any point leaves
    `path` as it was before or as the block wrote it, never half-written;
    on an error the temporary file or folder is removed and `path` is
    untouched. A folder replaces a folder: the old one is moved aside first.
    Through a symlink, the file it points to is replaced and the link kept;
    a destination that is not a regular file or folder (`/dev/stdout`, a
    FIFO, `/dev/null`) is written to directly, not replaced.

    Example:

    ```python
    with atomic_path("model.keras") as temporary:
        model.save(temporary)
    ```
    """
    path = Path(path)
    if path.exists() and not (path.is_file() or path.is_dir()):
        yield path
        return
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    temporary = target.with_name(f".{target.stem}.{os.getpid()}.tmp{path.suffix}")  # the link's suffix: writers check it (Keras' .keras)
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    try:
        yield temporary
        _sync(temporary)
        _pause_for_crash_tests(path)
        if temporary.is_dir() and target.is_dir():
            os.replace(target, old)
            os.replace(temporary, target)
            shutil.rmtree(old)
        else:
            os.replace(temporary, target)
    finally:
        if temporary.is_dir():
            shutil.rmtree(temporary)
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path, mode="w", **kwargs):
    """Yields a file opened beside `path` that replaces `path` when the block ends without error.

    `atomic_path` for writers that take a file object.

    Example:

    ```python
    with atomic_write("report.json") as file:
        file.write(text)
    ```
    """
    with atomic_path(path) as temporary, open(temporary, mode, **kwargs) as file:
        yield file


def remove_temporaries(folder):
    """Deletes what killed `atomic_path` writers left in `folder`: their temporary files and folders.

    Call it only while no other process writes there (a run directory is
    locked while its run uses it).
    """
    for path in Path(folder).glob(".*"):
        if TEMPORARY.match(path.name):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _sync(path):
    for file in sorted(Path(path).rglob("*")) if Path(path).is_dir() else [Path(path)]:
        if file.is_file():
            with open(file, "rb+") as handle:
                os.fsync(handle.fileno())


def _pause_for_crash_tests(path):
    """Stops this process, new contents written but not yet in place, when `PAUSE_VARIABLE` names this write.

    The crash tests set `KERAS_FER_PAUSE_BEFORE_REPLACING=<file name>:<n>` to
    stop the `n`-th replacement of that file in the process (e.g.
    `model.keras:3`), wait for `<file name>.paused` to appear beside it, and
    kill the process there: the worst moment for a writer.
    """
    _replacements[path.name] += 1
    if os.environ.get(PAUSE_VARIABLE) == f"{path.name}:{_replacements[path.name]}":
        path.with_name(f"{path.name}.paused").touch()
        while True:
            time.sleep(1)


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


def first_missing(path):
    """The outermost folder of `path` that does not exist yet (what `mkdir(parents=True)` creates), or `None`."""
    path = Path(path).absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def file_sha256(path):
    """The SHA-256 of a file's bytes, as hex, read 4 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**22), b""):
            digest.update(block)
    return digest.hexdigest()
