"""Per-rank spill segments merged into unit order while a multi-process run goes on
(dnaseq.inference.spill): records come out in unit order as soon as their turn is known, read
segments are deleted, nothing is lost or repeated at the end."""
import os

import numpy as np

from dnaseq.inference import spill


def _record(i):
    return (i, {"unit": i}, {"out": np.full(3, i, np.float32)})


def test_records_come_out_in_unit_order_as_segments_are_published(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "SEGMENT_BYTES", 1)  # every record publishes its own segment
    writers = [spill.SpillWriter(str(tmp_path), r) for r in range(3)]
    merger = spill.SpillMerger(str(tmp_path), 3)
    got = []
    # units dealt round-robin (unit i to rank i % 3); rank 2 runs behind the others
    for i in (0, 1, 3, 4, 6, 7):
        writers[i % 3].add(_record(i))
    got += [r[0] for r in merger.ready()]
    assert got == [0, 1]  # unit 2 (rank 2) is not there yet: nothing after it can be written
    writers[2].add(_record(2))
    got += [r[0] for r in merger.ready()]
    assert got == [0, 1, 2, 3, 4]
    writers[2].add(_record(5))
    writers[2].add(_record(8))
    got += [r[0] for r in merger.ready()]
    assert got == list(range(9))  # ranks 0 and 1 can send nothing below 9 and 10 now
    for w in writers:
        w.close()
    assert list(merger.ready(finished=True)) == []
    assert os.listdir(tmp_path) == []  # every segment was deleted once read


def test_segments_hold_many_records_and_the_tail_is_published_on_close(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "SEGMENT_BYTES", 2000)
    monkeypatch.setattr(spill, "SEGMENT_SECONDS", 1e9)
    writers = [spill.SpillWriter(str(tmp_path), r) for r in range(2)]
    merger = spill.SpillMerger(str(tmp_path), 2)
    n = 101  # an odd count: rank 0 has one unit more
    for i in range(n):
        writers[i % 2].add(_record(i))
    published = sorted(f for f in os.listdir(tmp_path) if f.endswith(".pkl"))
    assert 2 < len(published) < n  # several records per segment
    early = list(merger.ready())
    assert [r[0] for r in early] == list(range(len(early))) and 0 < len(early) < n
    for w in writers:
        w.close()
    rest = list(merger.ready(finished=True))
    out = early + rest
    assert [r[0] for r in out] == list(range(n))
    assert all(r[1]["unit"] == r[0] and (r[2]["out"] == r[0]).all() for r in out)
    assert os.listdir(tmp_path) == []


def test_a_rank_without_units_and_an_empty_run(tmp_path):
    writers = [spill.SpillWriter(str(tmp_path), r) for r in range(2)]
    writers[0].add(_record(0))
    for w in writers:
        w.close()
    merger = spill.SpillMerger(str(tmp_path), 2)
    assert [r[0] for r in merger.ready(finished=True)] == [0]
    empty = tmp_path / "empty"
    empty.mkdir()
    w = spill.SpillWriter(str(empty), 0)
    w.close()
    assert list(spill.SpillMerger(str(empty), 1).ready(finished=True)) == [] and os.listdir(empty) == []


def test_a_new_spill_folder_removes_what_killed_runs_on_this_host_left(tmp_path):
    import socket
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    host = socket.gethostname()
    left = tmp_path / f"dnaseq-spill-{host}-{int(dead.stdout)}-x1"  # its process is gone: a kill left it
    running = tmp_path / f"dnaseq-spill-{host}-{os.getpid()}-x2"  # a run still going on
    other_host = tmp_path / f"dnaseq-spill-{host}x-{int(dead.stdout)}-x3"  # cannot be checked from here
    for d in (left, running, other_host):
        d.mkdir()
        (d / "rank1.0000000.pkl").write_bytes(b"x")
    new = spill.make_spill_dir(str(tmp_path))
    assert os.path.isdir(new) and os.path.basename(new).startswith(f"dnaseq-spill-{host}-{os.getpid()}-")
    assert not left.exists() and running.exists() and other_host.exists()
