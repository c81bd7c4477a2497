"""Per-rank spill files of a multi-process run, merged into unit order by rank 0 while the run
goes on.

Each rank writes its results (``(unit number, meta, outputs)`` records, in its own unit order)
as pickle records to segment files in a folder all ranks share: ``rank{r}.{n}.pkl``, published
by renaming once a segment holds :data:`SEGMENT_BYTES` or is :data:`SEGMENT_SECONDS` old, so a
reader never sees half a segment. Rank 0 reads published segments as they appear and hands
records to the sink in unit order, deleting each segment once read: the spill holds only what
rank 0 cannot write yet (records of faster ranks waiting for a slower rank's), not the whole
run's output (57 GB for a genome of 919 features at 200 bp), and the output grows as the run
goes on, so ``--resume`` after a kill continues a multi-process run as it does a single one.

Written by hand: Lightning's prediction writers leave each rank's results apart (one file per
rank, or gathered at the end of a run); putting them back in one order is left to the caller.
"""
from __future__ import annotations

import os
import pickle
import shutil
import socket
import tempfile
import time
from collections import deque
from typing import Deque, Iterator, List

SEGMENT_BYTES = 16 << 20
SEGMENT_SECONDS = 5.0


def make_spill_dir(base: str) -> str:
    """A new spill folder in ``base``, named after this host and process (rank 0), after removing
    the folders that runs on this host left when they were killed (SIGKILL leaves no chance to
    clean up): those whose process no longer exists. Folders of other hosts are left alone."""
    prefix = f"dnaseq-spill-{socket.gethostname()}-"
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for name in names:
        pid = name[len(prefix):].split("-", 1)[0]
        if name.startswith(prefix) and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _segment(folder: str, rank: int, n: int) -> str:
    return os.path.join(folder, f"rank{rank}.{n:07d}.pkl")


class SpillWriter:
    """One rank's records, in segments published as they fill (see the module docstring)."""

    def __init__(self, folder: str, rank: int):
        self.folder, self.rank, self.n = folder, rank, 0
        self._tmp = os.path.join(folder, f"rank{rank}.writing")
        self._open()

    def _open(self) -> None:
        self._fh = open(self._tmp, "wb")
        self._since = time.monotonic()

    def add(self, record) -> None:
        pickle.dump(record, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
        if self._fh.tell() >= SEGMENT_BYTES or time.monotonic() - self._since >= SEGMENT_SECONDS:
            self._publish()
            self._open()

    def _publish(self) -> None:
        empty = self._fh.tell() == 0
        self._fh.close()
        if empty:
            os.remove(self._tmp)
            return
        os.rename(self._tmp, _segment(self.folder, self.rank, self.n))
        self.n += 1

    def close(self) -> None:
        """Publish what is left; no more records."""
        if not self._fh.closed:
            self._publish()


class SpillMerger:
    """Rank 0's view of every rank's published segments: :meth:`ready` yields records in unit
    order as soon as their turn has come.

    Units are dealt round-robin (unit i to rank i % world, :mod:`dnaseq.inference.engine`) and
    each rank sends its own in order, so the next unit of a rank that has sent unit u is
    u + world (its first is its rank): a record is written once no rank can still send a
    smaller one.
    """

    def __init__(self, folder: str, world: int):
        self.folder, self.world = folder, world
        self.queues: List[Deque] = [deque() for _ in range(world)]
        self.next = [0] * world  # next segment number of each rank
        self.last = [r - world for r in range(world)]  # last unit read from each rank

    def _fill(self, r: int) -> bool:
        """Whether rank r has a record at hand (reading its next published segment if needed)."""
        q = self.queues[r]
        while not q:
            path = _segment(self.folder, r, self.next[r])
            if not os.path.exists(path):
                return False
            with open(path, "rb") as fh:
                while True:
                    try:
                        q.append(pickle.load(fh))
                    except EOFError:
                        break
            os.remove(path)
            self.next[r] += 1
        return True

    def ready(self, finished: bool = False) -> Iterator[tuple]:
        """Records whose turn has come. With ``finished`` (every rank closed its writer) all the
        rest, in order."""
        while True:
            heads = []  # (unit number, rank, whether the record is at hand)
            for r, q in enumerate(self.queues):
                if self._fill(r):
                    heads.append((q[0][0], r, True))
                elif not finished:  # the smallest unit this rank may still send
                    heads.append((self.last[r] + self.world, r, False))
            if not heads:
                return
            unit, r, at_hand = min(heads)
            if not at_hand:
                return
            self.last[r] = unit
            yield self.queues[r].popleft()
