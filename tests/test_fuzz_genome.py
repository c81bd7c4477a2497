"""Fuzzing the genome layer with hypothesis: messy FASTA files and broken indexes.

Properties, for plain and BGZF files written to disk:

* ``Genome(...)``, ``fetch``, ``window`` and ``chromosome_codes`` raise nothing but ``ValueError``,
  ``FileNotFoundError`` or the project's ``UnknownChromosomeError``, whatever the bytes;
* when ``Genome`` opens a file, its sequences are exactly those of a simple independent parse
  (``parse_fasta``), and any range fetched gives exactly those bases, N off the ends (or a
  ``ValueError`` when the range holds a character that is not a base);
* a ``.fai`` mutated at random is either accepted by ``check_index`` *and* reads exactly like the
  true one, or rejected (and ``Genome`` rebuilds it and reads the right bases).

The CI budget is small (a few seconds per target). For a long run::

    HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz_genome.py -q --hypothesis-show-statistics

(``long`` = 50x the examples; ``DNASEQ_FUZZ_SCALE=<factor>`` sets any other factor). Failing
examples are printed with a ``@reproduce_failure`` blob and kept in hypothesis' own database
(``.hypothesis/``, which git ignores through the ``.gitignore`` hypothesis writes there).
"""
import os
import tempfile
import warnings
from typing import List, Optional, Tuple

import numpy as np
import pyfaidx
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from dnaseq.sequence.encoding import CODE_TABLE, INVALID, N_CODE
from dnaseq.sequence.genome import Genome, UnknownChromosomeError, check_index, index_paths, write_fasta

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
SCALE = float(os.environ.get("DNASEQ_FUZZ_SCALE", 50 if LONG else 1))
settings.register_profile("dnaseq-genome-fuzz", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])
FUZZ = settings.get_profile("dnaseq-genome-fuzz")


def budget(n: int) -> settings:
    return settings(FUZZ, max_examples=max(1, int(n * SCALE)))


ALLOWED = (ValueError, FileNotFoundError, UnknownChromosomeError)


# -- an independent FASTA parse (what the bytes mean, per pyfaidx's rules) --------------------------
def parse_fasta(data: bytes) -> Optional[List[Tuple[str, bytes]]]:
    """[(name, sequence bytes)], or None where the text cannot be a FASTA pyfaidx reads."""
    records: List[Tuple[str, bytearray]] = []
    for line in data.split(b"\n"):
        if line.startswith(b">"):
            try:
                words = line.decode("utf-8").rstrip("\r")[1:].split()
            except UnicodeDecodeError:
                return None
            if not words:
                return None
            records.append((words[0], bytearray()))
        elif not records:
            try:
                if not (line.startswith(b";") or not line.decode("utf-8").strip()):
                    return None
            except UnicodeDecodeError:
                return None
        else:
            records[-1][1].extend(line.rstrip(b"\r"))
    return [(n, bytes(s)) for n, s in records] or None


def expected_codes(seq: bytes, start: int, end: int) -> Optional[np.ndarray]:
    """Codes of [start, end) with N off the ends; None if a non-base character is inside."""
    out = np.full(end - start, N_CODE, dtype=np.uint8)
    lo, hi = max(start, 0), min(end, len(seq))
    if hi > lo:
        codes = CODE_TABLE[np.frombuffer(seq[lo:hi], dtype=np.uint8)]
        if (codes == INVALID).any():
            return None
        out[lo - start:hi - start] = codes
    return out


def write(folder: str, data: bytes, bgzf: bool) -> str:
    path = os.path.join(folder, "f.fa.gz" if bgzf else "f.fa")
    if bgzf:
        from Bio import bgzf as bio_bgzf
        with bio_bgzf.BgzfWriter(path, "wb") as fh:
            fh.write(data)
    else:
        with open(path, "wb") as fh:
            fh.write(data)
    return path


def check_reads(g: Genome, records: List[Tuple[str, bytes]], data: st.DataObject) -> None:
    """Everything Genome gives back agrees with the independent parse."""
    names = [n for n, _ in records]
    assert len(set(names)) == len(names), "Genome opened a FASTA with duplicate names"
    assert g.lengths == {n: len(s) for n, s in records}
    for name, seq in records:
        n = len(seq)
        drawn = data.draw(st.lists(st.tuples(st.integers(-5, n + 5), st.integers(0, 30)), max_size=4),
                          label=f"ranges of {name}")
        for start, end in [(0, n), (-3, n + 3)] + [(s, s + k) for s, k in drawn]:
            want = expected_codes(seq, start, end)
            if want is None:
                with pytest.raises(ValueError):
                    g.fetch(name, start, end)
                continue
            w = g.fetch(name, start, end)
            assert w.codes.dtype == np.uint8 and np.array_equal(w.codes, want), (name, start, end)
            assert w.pad_left == max(0, min(end, 0) - start)
            assert w.pad_right == max(0, end - max(start, n))
            assert w.pad_left + w.pad_right <= end - start
        center, length = data.draw(st.integers(-3, n + 3)), data.draw(st.integers(1, 12))
        want = expected_codes(seq, center - length // 2, center - length // 2 + length)
        if want is None:
            with pytest.raises(ValueError):
                g.window(name, center, length)
        else:
            assert np.array_equal(g.window(name, center, length).codes, want)
        whole = expected_codes(seq, 0, n)
        if whole is None:
            with pytest.raises(ValueError):
                g.chromosome_codes(name, piece=7)
        else:
            assert np.array_equal(g.chromosome_codes(name, piece=7), whole)
    with pytest.raises(UnknownChromosomeError):
        g.fetch("no-such-sequence-\x00", 0, 1)


def _kind(message: str) -> str:
    """A short class of an error message, for hypothesis' event statistics."""
    for key in ("the index pyfaidx built", "cannot index", "does not match", "more than one sequence", "gzip", "not a FASTA",
                "Line length", "not contain a valid sequence", "Unexpected text", "Bad sequence name"):
        if key in message:
            return key
    return message.split(": ", 1)[-1][:40]


def open_and_check(data: bytes, bgzf: bool, draw: st.DataObject) -> str:
    """Write ``data`` as a FASTA, open it and check every read; returns what happened (for stats)."""
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # pyfaidx's "index is older" must not happen
        path = write(folder, data, bgzf)
        records = parse_fasta(data)
        try:
            g = Genome(path)
        except ALLOWED as exc:
            note(f"Genome raised {type(exc).__name__}: {exc}")
            event(f"{'bgzf' if bgzf else 'plain'} rejected: " + _kind(str(exc)))
            if records is not None and len({n for n, _ in records}) == len(records) \
                    and all(b"\r" not in s and s.isascii() for _, s in records):
                # a FASTA the parse understands should open, unless pyfaidx's line rules reject it
                assert "cannot index" in str(exc) or "Line length" in str(exc), exc
            return "rejected"
        with g:
            assert records is not None, "Genome opened what is not a FASTA"
            check_reads(g, records, draw)
            assert check_index(path) is None
            event(f"{'bgzf' if bgzf else 'plain'} opened")
        # a second open finds the index it wrote good
        Genome(path).close()
        return "opened"


# -- strategies ---------------------------------------------------------------------------------
NAMES = st.sampled_from(["chr1", "chr2", "1", "MT", "chrM", "x", "seq with words", "a.b|c", "é"])
BASES = st.sampled_from(list("ACGTNacgtnRYKMSWBDHVrykmswbdhvU"))
ODD = st.sampled_from(list("-*. >\t;0\x00") + ["é"])


@st.composite
def messy_fasta(draw) -> Tuple[bytes, bool]:
    """A valid FASTA roughened up the ways real files are, and whether pyfaidx must index it
    (False once it has an irregular inner line, blank lines after a sequence, a '>' that may start
    a line, or a multi-byte character inside a sequence)."""
    n = draw(st.integers(1, 4))
    names = draw(st.lists(NAMES, min_size=n, max_size=n, unique=not draw(st.booleans())))
    width = draw(st.integers(1, 25))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    out, regular = [], True
    if draw(st.booleans()):
        out.append(draw(st.sampled_from(["", ";comment", "  ", ";"])) + eol)
    for name in names:
        desc = draw(st.sampled_from(["", " desc", "\tx y"]))
        seq = "".join(draw(st.lists(BASES, max_size=60)))
        if draw(st.integers(0, 9)) == 0:  # rarely a character that is not a base
            i, odd = draw(st.integers(0, len(seq))), draw(ODD)
            seq = seq[:i] + odd + seq[i:]
            regular = regular and odd not in (">", "é")
        w = width if not draw(st.integers(0, 5)) == 0 else draw(st.integers(1, 25))  # per record
        lines = [seq[i:i + w] for i in range(0, len(seq), w)]
        if len(lines) > 1 and draw(st.integers(0, 7)) == 0:  # an irregular line
            k = draw(st.integers(0, len(lines) - 2))
            lines[k] = lines[k][:-1]
            regular = False
        block = f">{name}{desc}{eol}" + "".join(line + eol for line in lines)
        if draw(st.integers(0, 4)) == 0:
            block += eol * draw(st.integers(1, 2))  # blank lines after the sequence
            regular = False
        out.append(block)
    text = "".join(out)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final line end
    return text.encode("utf-8"), regular


FASTA_ALPHABET = st.sampled_from(list(">;ACGTNacgtn \t\r\n-é\x00")
                                 + [">chr1\n", ">chr2 d\n", "\r\n", "ACGTACGT"])
FASTA_ISH = st.lists(FASTA_ALPHABET, max_size=60).map(lambda parts: "".join(parts).encode("utf-8"))


# -- targets ------------------------------------------------------------------------------------
@budget(150)
@given(data=st.one_of(st.binary(max_size=200), FASTA_ISH), bgzf=st.booleans(), draw=st.data())
def test_fuzz_arbitrary_bytes_as_fasta(data, bgzf, draw):
    open_and_check(data, bgzf, draw)


@budget(60)
@given(data=st.binary(max_size=200))
def test_fuzz_arbitrary_bytes_named_fa_gz(data):
    """Bytes that are not BGZF (or are gzip/BGZF cut short) under a .fa.gz name."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "f.fa.gz")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            with Genome(path) as g:
                for name in g.chromosomes:
                    g.fetch(name, -1, g.lengths[name] + 1)
        except ALLOWED:
            pass


@budget(60)
@given(fasta=messy_fasta(), cut=st.integers(1, 400), flip=st.integers(0, 400))
def test_fuzz_damaged_bgzf(fasta, cut, flip):
    """A valid BGZF FASTA cut short or with one byte changed."""
    with tempfile.TemporaryDirectory() as folder:
        path = write(folder, fasta[0], bgzf=True)
        raw = bytearray(open(path, "rb").read())
        if flip < len(raw):
            raw[flip] ^= 0x5A
        else:
            raw = raw[:max(0, len(raw) - cut)]
        with open(path, "wb") as fh:
            fh.write(bytes(raw))
        try:
            with Genome(path) as g:
                for name in g.chromosomes:
                    g.fetch(name, -1, g.lengths[name] + 1)
        except ALLOWED:
            pass


@budget(200)
@given(fasta=messy_fasta(), bgzf=st.booleans(), draw=st.data())
def test_fuzz_messy_valid_fasta(fasta, bgzf, draw):
    data, regular = fasta
    records = parse_fasta(data)
    if records is None or len({n for n, _ in records}) < len(records):
        regular = False  # a nameless header, or duplicate names: must be refused
    outcome = open_and_check(data, bgzf, draw)
    assert outcome == "opened" or not regular, "a regular FASTA was refused"


@st.composite
def fai_mutation(draw, lines: List[List[str]]) -> List[List[str]]:
    lines = [list(f) for f in lines]
    kind = draw(st.sampled_from(["field", "field", "drop", "swap", "dup", "rename", "truncate"]))
    if kind == "field" or len(lines) < 2 and kind in ("drop", "swap"):
        i, f = draw(st.integers(0, len(lines) - 1)), draw(st.integers(1, 4))
        v = int(lines[i][f])
        lines[i][f] = str(max(0, v + draw(st.sampled_from([-61, -2, -1, 1, 2, 61]))))
    elif kind == "drop":
        del lines[draw(st.integers(0, len(lines) - 1))]
    elif kind == "swap":
        i = draw(st.integers(0, len(lines) - 2))
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif kind == "dup":
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, list(lines[i]))
    elif kind == "rename":
        lines[draw(st.integers(0, len(lines) - 1))][0] = draw(NAMES).split()[0]
    else:
        lines = lines[:draw(st.integers(0, len(lines) - 1))]
    return lines


@budget(150)
@given(seqs=st.lists(st.text(alphabet="ACGTN", max_size=150), min_size=1, max_size=4),
       width=st.integers(1, 70), bgzf=st.booleans(), draw=st.data())
def test_fuzz_mutated_index_is_never_used(seqs, width, bgzf, draw):
    """A random edit of a correct .fai: check_index rejects it, or it reads exactly like the true one."""
    records = {f"s{i}": s for i, s in enumerate(seqs)}
    with tempfile.TemporaryDirectory() as folder:
        path = str(write_fasta(os.path.join(folder, "f.fa.gz" if bgzf else "f.fa"), records, width=width))
        Genome(path).close()
        fai, _ = index_paths(path)
        good = [line.split("\t") for line in open(fai).read().splitlines()]
        bad = draw.draw(fai_mutation(good), label="mutated fai")
        with open(fai, "w") as fh:
            fh.write("".join("\t".join(f) + "\n" for f in bad))
        problem = check_index(path)
        note(f"check_index: {problem}")
        event("mutated index accepted" if problem is None else "mutated index rejected")
        if problem is None:  # accepted: it must read exactly like the true index
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fa = pyfaidx.Fasta(path, as_raw=True, rebuild=False, build_index=False)
            assert list(fa.keys()) == list(records)
            for name, seq in records.items():
                assert fa[name][0:len(seq)] == seq
            fa.close()
        with Genome(path) as g:
            assert g.lengths == {k: len(v) for k, v in records.items()}
            for name, seq in records.items():
                assert g.fetch_text(name, 0, len(seq)) == seq
        assert check_index(path) is None
