"""Output locations, checked before any long work starts: a folder is created (with its
parents) or refused with one line naming it and the reason in words (a file is created and
removed there to find out); an output prefix may not be a folder. While a run writes an output,
:class:`OutputLock` keeps a second run from writing the same one (two runs never interleave
into one file: the second stops with one line naming the first's process).

The lock is ``flock`` on a ``PATH.lock`` file beside the output, by hand because the locking
libraries (filelock, portalocker) would be a new dependency for twenty lines; ``flock`` dies
with its process, so a killed run never leaves a stale lock (the ``.lock`` file may stay; it
holds the writer's pid and nothing that looks like an output).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from typing import Dict

try:
    import fcntl
except ImportError:  # not POSIX (Windows): outputs are written without the lock
    fcntl = None

#: why a folder takes no new file, in words (errno -> reason)
_REASONS = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
            errno.EROFS: "it is on a read-only file system", errno.ENOSPC: "no space left on the device",
            errno.EDQUOT: "the disk quota is used up",
            errno.ENOENT: "it does not take new files (a special file system such as /proc or /sys?)"}


def _file_in_the_way(path: str):
    """The nearest existing ancestor of ``path`` (itself included) when it is a file, else None."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    return probe if os.path.exists(probe) and not os.path.isdir(probe) else None


def _not_writable(folder: str):
    """Why no file can be created in the existing ``folder`` (in words), or None when one can: a
    file is created and removed there, since permission bits say nothing of read-only mounts,
    /proc, or root (for whom ``os.access`` is always true)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".dnaseq-write-test-"):
            return None
    except OSError as exc:
        return _REASONS.get(exc.errno, exc.strerror or str(exc))


def ensure_writable_dir(path: str, option: str = "--out") -> None:
    """Create ``path`` (and parents) or stop with a one-line error naming it, the file in the
    way if there is one, and ``option`` to change, before any long work."""
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise ValueError(f"cannot create output folder {path}: {blocker} is a file; choose another {option}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create output folder {path}: {exc.strerror or exc}; choose another {option}") from exc
    why = _not_writable(path)
    if why is not None:
        raise ValueError(f"cannot write in output folder {path}: {why}; choose another {option}")


def prepare_output_file(path: str, example: str, option: str = "--out") -> None:
    """Like :func:`prepare_output_prefix` for one output file (``example``: a file name to
    suggest when ``path`` is a folder)."""
    if os.path.isdir(path) or str(path).endswith(("/", os.sep)):
        raise ValueError(f"{option} {path} is a folder; give the file to write, e.g. {os.path.join(path, example)}")
    try:
        prepare_output_prefix(str(path))
    except ValueError as exc:
        raise ValueError(f"{exc}; choose another {option}") from None


def folders_in_the_way(paths) -> None:
    """Refuse output files whose path is an existing folder: the finished file could not be
    renamed onto it after all the work (checked first, whatever ``--overwrite`` says)."""
    folders = [str(p) for p in paths if p and os.path.isdir(p)]
    if folders:
        raise ValueError(f"{folders[0]} is a folder, where an output file of this name goes: choose another --out "
                         "(or move the folder)")


def prepare_output_prefix(out: str, outputs=()) -> None:
    """Create the folder of output prefix ``out`` (like ``evaluate --out``) and check that it
    is writable; a prefix that is a folder (``results/``) is an error, as is a folder standing
    where one of the ``outputs`` (file paths) will go."""
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        raise ValueError(f"output prefix {out!r} is a folder; give a prefix such as "
                         f"{os.path.join(out, 'scores')!r} (writes scores.tsv, scores.summary.json)")
    folders_in_the_way(outputs)
    folder = os.path.dirname(os.path.abspath(out))
    blocker = _file_in_the_way(folder)
    if blocker is not None:
        raise ValueError(f"cannot create output folder {folder}: {blocker} is a file")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create output folder {folder}: {exc.strerror}") from exc
    why = _not_writable(folder)
    if why is not None:
        raise ValueError(f"cannot write in output folder {folder}: {why}")


class HDF5Output:
    """An HDF5 file written in appends, with one handle per dataset for the whole run (temporary
    handles would each write their chunks when closed, where h5py can only print a failed write)
    and a flush after each append, so that a failed write (disk full, quota, file-size limit)
    raises in the caller. After such a failure HDF5 cannot close the file safely (h5py's clean-up
    crashes the process), so :meth:`close` leaves it open for good and the caller removes it."""

    _abandoned: list = []  # files left open after a failed write: never closed, never collected

    def __init__(self, path: str, mode: str = "w"):
        import h5py  # only writers of HDF5 need it

        self.file = h5py.File(path, mode)
        self._handles: dict = {}
        self.failed = False

    def __getitem__(self, key: str):
        ds = self._handles.get(key)
        if ds is None:
            ds = self._handles[key] = self.file[key]
        return ds

    def flush(self) -> None:
        try:
            self.file.flush()
        except (RuntimeError, OSError):
            self.failed = True
            raise

    def close(self) -> None:
        if self.failed:
            HDF5Output._abandoned.append((self.file, self._handles))
            return
        self._handles.clear()
        self.file.close()


class OutputBusy(RuntimeError):
    """Another process is writing the same output now."""


class NothingProduced(ValueError):
    """A run that had nothing to work on (every input left out, or none given): the message says
    why. The CLI exits with status 3."""


class OutputLock:
    """An exclusive claim on writing ``path`` (taken at construction, never waiting): a second
    claim on the same path, from this process or another, raises :class:`OutputBusy` naming the
    holder's pid. :meth:`release` (idempotent) removes the ``.lock`` file; it is also usable as
    a context manager."""

    def __init__(self, path: str):
        self.path, self.lock_path, self._fd = str(path), str(path) + ".lock", None
        if fcntl is None:
            return
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.read(fd, 64).decode("ascii", "replace").strip()
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise OutputBusy(f"{self.path} is being written by another run (process {holder or '?'}, "
                                 f"{self.lock_path}); wait for it to finish or choose another output") from None
            try:  # the file may have been released and removed between open and flock: lock the one on disk
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.remove(self.lock_path)  # while still holding it, so no one locks a file being removed
            except OSError:
                pass
            os.close(fd)

    def __enter__(self) -> "OutputLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def complete_rows(path: str) -> int:
    """Data rows of a TSV that end in a line break (a last line cut short by a kill is not one),
    counted in blocks: memory stays flat however large the file."""
    lines = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            lines += block.count(b"\n")
    return max(0, lines - 1)


def last_line_end(path: str) -> int:
    """The byte offset just after the last line break of ``path`` (0 without one): where a table
    whose last line a kill cut short ends. Read backwards from the end, a block at a time."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - (1 << 20))
            fh.seek(start)
            at = fh.read(end - start).rfind(b"\n")
            if at >= 0:
                return start + at + 1
            end = start
    return 0


def output_prefix(out: str, suffix: str) -> str:
    """An output prefix given with its file's suffix (``preds.tsv`` for ``PREFIX.tsv``) as the prefix
    (``preds``), so the file is not ``preds.tsv.tsv``."""
    return out[:-len(suffix)] if out.endswith(suffix) and len(out) > len(suffix) else out


@contextlib.contextmanager
def completed(path: str):
    """``with completed(path) as partial:`` write ``partial`` (``PATH.partial``); it becomes ``path``
    when the block ends, and is removed if the block fails: nothing that looks finished is left."""
    partial = path + ".partial"
    try:
        yield partial
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    os.replace(partial, path)


def write_json(path: str, obj, **dump_kwargs) -> str:
    """``obj`` as JSON at ``path`` through :func:`completed` (an object that JSON cannot hold
    fails with nothing left under ``path``)."""
    with completed(path) as partial, open(partial, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, **dump_kwargs)
    return path


def write_run_settings(partial: str, settings: Dict) -> None:
    """Beside ``partial`` (``PARTIAL.json``), the settings a ``--resume`` must match."""
    with open(partial + ".json", "w", encoding="utf-8") as fh:
        json.dump(settings, fh)


def check_run_settings(partial: str, settings: Dict) -> None:
    """A ValueError naming ``partial`` unless its ``.json`` holds ``settings`` (JSON-equal)."""
    try:
        with open(partial + ".json", encoding="utf-8") as fh:
            before = json.load(fh)
    except (OSError, ValueError):
        before = None
    if before != json.loads(json.dumps(settings)):
        raise ValueError(f"--resume: {partial} was written by a run with other settings (or its "
                         f"{os.path.basename(partial)}.json is missing); delete it to start again")
