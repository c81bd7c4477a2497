"""Property-based fuzzing (hypothesis) of the inputs users hand to dnaseq (issue 9).

Targets
-------
* BED / narrowPeak reader (:func:`dnaseq.read_intervals`):
  - files built from lines whose fate is known (records, zero-length records, comments,
    column headers, bad lines of every kind; tabs or spaces; LF or CRLF; gzip; BOM): each line
    is used, counted as skipped, or -- in error mode -- stops the read with a
    :class:`~dnaseq.BedFormatError` naming ``file:line`` of the first bad line; the merged
    intervals are those of the good lines;
  - real lines from ``data/dm3_slice/*.bed`` mutated (columns swapped, coordinates negative,
    huge or not integers, spaces, CR / CRLF, blank / track / browser / ``#`` lines, binary bytes,
    gzip, truncated or corrupted gzip, no final newline, narrowPeak and extra columns), and
    arbitrary bytes: never any exception but ``BedFormatError("file:line: problem")``; in skip
    mode used + skipped + comment lines == lines; error and skip mode agree on the first bad line;
  - :func:`dnaseq.build_dataset` on a tiny genome with a fuzzed peak file (few examples): it
    builds with the skips reported and the labels of the good lines (``1`` and ``chr1`` merged),
    or fails with ``file:line:``.
* ``dnaseq train`` configs (:mod:`dnaseq.training.train`): :func:`check_config` on random mappings
  (misspelt keys, wrong types, non-mapping values), :func:`load_config` on random files (binary,
  empty, YAML of any shape, mutated shipped configs) and missing paths, and
  :func:`explain_config_error` on jsonargparse-like messages: a :class:`ConfigError` naming the
  file and the key, never another exception. Two fixed bad configs go through the real CLI in
  a subprocess (slow: Lightning's import).

Example counts
--------------
Each hypothesis target runs ``DNASEQ_FUZZ_EXAMPLES`` examples (default 40; the build target a
tenth of that, at least 3), a few seconds each. To fuzz longer::

    DNASEQ_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz_inputs.py -q -x

Add ``--hypothesis-seed=N`` to replay one run, ``--hypothesis-show-statistics`` for timings,
``-k 'not cli'`` to leave out the two subprocess runs (about 15 s each, whatever the count).
"""
from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dnaseq import BedFormatError, Feature, build_dataset, read_intervals
from dnaseq.sequence.genome import write_fasta
from dnaseq.sequence.intervals import MAX_COORDINATE
from dnaseq.sequence.sniff import sniff
from dnaseq.training.config import (
    SECTIONS,
    ConfigError,
    check_config,
    config_paths,
    explain_config_error,
    load_config,
    valid_keys,
)
from tests.conftest import DATA, ROOT, run_cli

N_EXAMPLES = int(os.environ.get("DNASEQ_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=N_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=max(3, N_EXAMPLES // 10), deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

COUNTED = {"header line", "zero-length interval"}  # skipped in both modes, never an error


def _real_lines() -> List[str]:
    out = []
    for path in sorted((DATA / "dm3_slice").glob("*.bed")):
        with open(path) as fh:
            out += [next(fh).rstrip("\n") for _ in range(4)]
    return out


REAL_LINES = _real_lines()  # a track line and three records from each file
REAL_RECORDS = [line for line in REAL_LINES if not line.startswith("track")]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, data: bytes, name: str = "peaks.bed") -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def _read(path: str, mode: str):
    """read_intervals, or the BedFormatError it raised ('file:line: problem', or a whole file of
    another format: 'file: this is a <format>, not a BED ...'); any other exception fails the test."""
    try:
        return read_intervals(path, on_bad_line=mode)
    except BedFormatError as exc:
        assert re.match(re.escape(path) + r":\d+: \S", str(exc)) or _refused_format(path, exc), \
            f"not 'file:line: problem': {exc}"
        return exc


def _refused_format(path: str, exc: BedFormatError) -> bool:
    return bool(re.match(re.escape(path) + r": this is an? .+, not a BED or narrowPeak file", str(exc)))


def _error_line(path: str, exc: BedFormatError) -> int:
    return int(re.match(re.escape(path) + r":(\d+): ", str(exc)).group(1))


def _first_bad_line(iv) -> Optional[int]:
    lines = [int(where.rsplit(":", 1)[1]) for reason, where in iv.skipped_examples.items()
             if reason not in COUNTED]
    return min(lines) if lines else None


def _count_lines(raw: bytes) -> int:
    """Lines as ``wc -l`` counts them, plus a last line without its newline (a lone CR ends none)."""
    return raw.count(b"\n") + (not raw.endswith(b"\n") and raw != b"")


def _check_both_modes(path: str, raw_text: Optional[bytes]) -> None:
    """The properties every BED input must have, whatever its content."""
    skip, err = _read(path, "skip"), _read(path, "error")
    if isinstance(skip, BedFormatError) and _refused_format(path, skip):  # content of another format
        assert str(err) == str(skip) and sniff(path).name not in ("bed", "gff", "text", "empty")
        return
    if isinstance(skip, BedFormatError):  # only a broken gzip stream stops skip mode
        assert "gzip" in str(skip)
        assert isinstance(err, BedFormatError) and _error_line(path, err) <= _error_line(path, skip)
        return
    assert skip.n_records + sum(skip.skipped.values()) + skip.n_comment_lines == skip.n_lines
    assert skip.n_records == sum(skip.n_records_by_chrom.values())
    if raw_text is not None:
        assert skip.n_lines == _count_lines(raw_text)
    for s, e in skip.chroms.values():
        assert (s < e).all() and (s[1:] > e[:-1]).all()  # sorted, disjoint, not touching
    first_bad = _first_bad_line(skip)
    if first_bad is None:
        assert not isinstance(err, BedFormatError), err
        assert err.n_records == skip.n_records and err.skipped == skip.skipped
    else:
        assert isinstance(err, BedFormatError) and _error_line(path, err) == first_bad


# --------------------------------------------------------------------------------------------
# BED lines whose fate is known
# --------------------------------------------------------------------------------------------
CHROMS = st.sampled_from(["chr2L", "chr2R", "2L", "chrX", "chrUn_CP007120v1", "scaffold_1"])
COORD = st.integers(0, 10 ** 7)
SEPARATOR = st.sampled_from(["\t", "\t", " ", "  ", " \t"])
NOT_INTEGERS = st.sampled_from(["1.5", "1e5", "abc", "", "+5", "1_000", "\u0661\u0662", "0x10", "NA", "-",
                                "\ufffd", "5\x00"])


@st.composite
def narrowpeak_columns(draw) -> List[str]:
    kind = draw(st.sampled_from(["bed3", "bed6", "narrowPeak", "extra"]))
    if kind == "bed3":
        return []
    cols = [draw(st.from_regex(r"[A-Za-z0-9_.]{1,8}", fullmatch=True)), str(draw(st.integers(0, 1000))),
            draw(st.sampled_from(["+", "-", "."]))]
    if kind in ("narrowPeak", "extra"):
        cols += [f"{draw(st.floats(0, 100)):.3f}", "-1", f"{draw(st.floats(0, 10)):.2f}",
                 str(draw(st.integers(-1, 500)))]
    if kind == "extra":
        cols += draw(st.lists(st.from_regex(r"[^\s]{0,6}", fullmatch=True), min_size=1, max_size=3))
    return cols


def _join(fields: List[str], sep: str) -> str:
    if sep != "\t" and any(f == "" or f.isspace() for f in fields):
        sep = "\t"  # an empty column only survives tab separation
    return sep.join(fields)


@st.composite
def bed_line(draw) -> Tuple[str, str, bool]:
    """(kind, text, sets_seen): kind is good / zero / comment / headerish / bad; ``sets_seen`` is
    whether the line has integer start and end (after which a column header is a bad line)."""
    kind = draw(st.sampled_from(["good", "good", "good", "real", "zero", "comment", "headerish", "negative",
                                 "reversed", "huge", "not_integer", "few_columns", "empty_chrom"]))
    chrom, start, length = draw(CHROMS), draw(COORD), draw(st.integers(1, 5000))
    extra, sep = draw(narrowpeak_columns()), draw(SEPARATOR)
    if kind == "real":
        line = draw(st.sampled_from(REAL_RECORDS))
        return "good", _join(line.split("\t"), sep), True
    if kind == "good":
        return "good", _join([chrom, str(start), str(start + length)] + extra, sep), True
    if kind == "zero":
        return "zero", _join([chrom, str(start), str(start)] + extra, sep), True
    if kind == "comment":
        return "comment", draw(st.sampled_from(["", " ", "\t", "# a comment", "#chrom\tstart\tend", "track",
                                                'track name="x" description="y z"',
                                                "browser position chr2L:1-1000", "browser hide all"])), False
    if kind == "headerish":
        return "headerish", draw(st.sampled_from(["chrom\tstart\tend", "chr\tfrom\tto\tname",
                                                  "seqnames start end", "Chromosome\tStart\tEnd\tScore"])), False
    if kind == "negative":
        return "bad", _join([chrom, str(-draw(st.integers(1, 10 ** 30))), str(start + length)] + extra, sep), True
    if kind == "reversed":  # start and end swapped
        return "bad", _join([chrom, str(start + length), str(start)] + extra, sep), True
    if kind == "huge":
        big = str(MAX_COORDINATE + draw(st.integers(1, 10 ** 40)))
        cols = [chrom, str(start), big] if draw(st.booleans()) else [chrom, big, big + "0"]
        return "bad", _join(cols + extra, sep), True
    if kind == "not_integer":  # exactly one of start / end: a line with neither looks like a header
        junk = draw(NOT_INTEGERS)
        cols = [chrom, junk, str(start)] if draw(st.booleans()) else [chrom, str(start), junk]
        return "bad", "\t".join(cols + extra), False
    if kind == "few_columns":
        return "bad", draw(st.sampled_from(["chr2L", "chr2L\t100", "chr2L 100", "100\t200", "x"])), False
    return "bad", "\t".join(["", str(start), str(start + length)] + extra), True  # empty_chrom


def _expected(lines: List[Tuple[str, str, bool]]) -> List[str]:
    """Fate of each line: good / zero / comment / header / bad."""
    seen, out = False, []
    for kind, _, sets_seen in lines:
        out.append(("bad" if seen else "header") if kind == "headerish" else kind)
        seen = seen or sets_seen
    return out


def _merged(lines, fates) -> Dict[str, Tuple[list, list]]:
    per: Dict[str, List[Tuple[int, int]]] = {}
    for (_, text, _), fate in zip(lines, fates):
        if fate == "good":
            fields = text.split("\t") if len(text.split("\t")) >= 3 else text.split()
            per.setdefault(fields[0].strip(), []).append((int(fields[1]), int(fields[2])))
    out = {}
    for chrom, ivs in per.items():
        merged: List[List[int]] = []
        for s, e in sorted(ivs):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        out[chrom] = ([s for s, _ in merged], [e for _, e in merged])
    return out


def _bed_bytes(lines, endings, final_newline: bool, bom: bool) -> bytes:
    if lines and lines[-1][1] == "":
        final_newline = True  # an empty last line without its newline is no line at all
    text = "".join(line[1] + end for line, end in zip(lines, endings))
    if lines and not final_newline:
        text = text[: -len(endings[len(lines) - 1])]
    return ("\ufeff" if bom and lines else "").encode() + text.encode()


@FUZZ
@given(lines=st.lists(bed_line(), max_size=25), data=st.data(), final_newline=st.booleans(),
       bom=st.booleans(), compress=st.booleans())
@example(lines=[("headerish", "chrom\tstart\tend", False), ("good", "chr2L\t10\t20", True),
                ("headerish", "chrom\tstart\tend", False)], data=None, final_newline=False, bom=True,
         compress=True)
def test_every_bed_line_is_used_counted_or_stops_at_the_first_bad_one(work, lines, data, final_newline,
                                                                        bom, compress):
    endings = (data.draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines)))
               if data is not None else ["\n"] * len(lines))
    raw = _bed_bytes(lines, endings, final_newline, bom)
    path = _write(work, gzip.compress(raw) if compress else raw, "known.bed.gz" if compress else "known.bed")
    fates = _expected(lines)
    n = {f: fates.count(f) for f in ("good", "zero", "comment", "header", "bad")}

    iv = _read(path, "skip")
    assert not isinstance(iv, BedFormatError), iv
    assert iv.n_lines == len(lines) and iv.n_comment_lines == n["comment"]
    assert iv.n_records == n["good"]
    assert iv.skipped["zero-length interval"] == n["zero"] and iv.skipped["header line"] == n["header"]
    assert sum(v for k, v in iv.skipped.items() if k not in COUNTED) == n["bad"]
    expected = _merged(lines, fates)
    assert {c: (s.tolist(), e.tolist()) for c, (s, e) in iv.chroms.items()} == expected

    err = _read(path, "error")
    if n["bad"]:
        first_bad = fates.index("bad") + 1
        assert isinstance(err, BedFormatError), f"line {first_bad} is bad: {lines[first_bad - 1]}"
        assert _error_line(path, err) == first_bad
        assert _first_bad_line(iv) == first_bad
    else:
        assert not isinstance(err, BedFormatError), err
        assert err.n_records == n["good"] and err.skipped == iv.skipped


# --------------------------------------------------------------------------------------------
# mutated real BED files, and arbitrary bytes
# --------------------------------------------------------------------------------------------
@st.composite
def mutated_bed(draw) -> Tuple[bytes, str]:
    """(bytes written, how they were compressed): a few real lines with mutations applied."""
    lines = draw(st.lists(st.sampled_from(REAL_LINES), min_size=1, max_size=8))
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        cols = lines[i].split("\t")
        op = draw(st.sampled_from(["swap", "coordinate", "spaces", "blank", "header", "binary", "columns",
                                   "narrowpeak", "delete", "duplicate", "cr", "truncate_line", "unicode"]))
        if op == "swap" and len(cols) >= 3:
            a, b = draw(st.permutations(range(len(cols))))[:2]
            cols[a], cols[b] = cols[b], cols[a]
            lines[i] = "\t".join(cols)
        elif op == "coordinate" and len(cols) >= 3:
            cols[draw(st.sampled_from([1, 2]))] = draw(st.one_of(
                st.integers(-10 ** 25, 10 ** 25).map(str), st.sampled_from(["-1", "0", str(2 ** 63), "9" * 5000]),
                NOT_INTEGERS, st.text(max_size=5)))
            lines[i] = "\t".join(cols)
        elif op == "spaces":
            lines[i] = lines[i].replace("\t", draw(st.sampled_from([" ", "  ", " \t ", "\x0b", "\u00a0"])))
        elif op == "blank":
            lines.insert(i, draw(st.sampled_from(["", "  ", "\t\t"])))
        elif op == "header":
            lines.insert(i, draw(st.sampled_from(["track name=x", "browser position chr2L:1-10", "# c",
                                                  "chrom\tstart\tend", "#", "track"])))
        elif op == "binary":
            junk = draw(st.binary(min_size=1, max_size=12)).decode("latin-1")
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + junk + lines[i][at:]
        elif op == "columns":
            lines[i] = "\t".join(cols + draw(st.lists(st.text(max_size=6), min_size=1, max_size=12)))
        elif op == "narrowpeak" and len(cols) >= 3:
            lines[i] = "\t".join(cols[:3] + ["p", "0", ".", "5.0", "-1", "-1", "50"])
        elif op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "cr":  # a lone CR inside a line (only LF ends a line)
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + "\r" + lines[i][at:]
        elif op == "truncate_line":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "unicode":
            lines[i] += draw(st.text(max_size=6))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    raw = ending.join(lines) + (ending if draw(st.booleans()) else "")
    data = raw.encode("utf-8")
    for _ in range(draw(st.integers(0, 2))):  # raw bytes, not necessarily UTF-8
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    how = draw(st.sampled_from(["plain", "plain", "gzip", "truncated gzip", "corrupt gzip", "gzip + junk"]))
    if how == "plain":
        return data, how
    z = gzip.compress(data)
    if how == "gzip":
        return z, how
    if how == "truncated gzip":
        return z[: draw(st.integers(0, len(z) - 1))], how
    if how == "corrupt gzip":
        at = draw(st.integers(2, len(z) - 1))
        return z[:at] + bytes([z[at] ^ draw(st.integers(1, 255))]) + z[at + 1:], how
    return z + draw(st.binary(min_size=1, max_size=20)), how


def _plain_text(data: bytes) -> Optional[bytes]:
    """The text bytes read_intervals sees, or None when they cannot be had independently."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except Exception:  # noqa: BLE001 - what the reader makes of it is checked separately
        return None


@FUZZ
@given(mutated_bed())
@example((b"chr2L\t1\t" + b"9" * 40 + b"\n", "plain"))
@example((b"chr2L\t1\t10\rchr2L\t\xd9\xa1\xd9\xa2\t20\n", "plain"))
@example((gzip.compress(b"chr2L\t1\t10\n")[:12], "truncated gzip"))
@example((b"\x1f\x8b\x08\x00\xce)\x06k\x02\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03", "corrupt gzip"))
def test_mutated_bed_files_are_read_or_fail_with_file_and_line(work, case):
    data, _ = case
    path = _write(work, data, "mutated.bed")
    _check_both_modes(path, _plain_text(data))


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(["plain", "gzip", "gzip magic"]))
def test_arbitrary_bytes_are_read_or_fail_with_file_and_line(work, data, how):
    if how == "gzip":
        data = gzip.compress(data)
    elif how == "gzip magic":
        data = b"\x1f\x8b" + data
    path = _write(work, data, "bytes.bed")
    _check_both_modes(path, _plain_text(data))


def test_bed_reader_fixed_regressions(work):
    # each of these raised OverflowError / zlib.error, or was silently misread, before issue 9
    cases = {
        b"chr1\t1\t99999999999999999999\n": "is larger than",
        b"chr1\t1\t" + b"9" * 5000 + b"\n": "is larger than",
        b"chr1\t\xd9\xa1\xd9\xa2\t50\n": "integers",  # Arabic-Indic digits are not a coordinate
        b"chr1\t1_0\t50\n": "integers",
        b"\t1\t50\n": "empty chromosome name",
    }
    for data, problem in cases.items():
        path = _write(work, data, "regression.bed")
        with pytest.raises(BedFormatError, match=re.escape(path) + ":1: .*" + problem):
            read_intervals(path)
    corrupt = _write(work, b"\x1f\x8b\x08\x00\xce)\x06k\x02\xff" + b"\x00" * 9 + b"\x03", "corrupt.bed.gz")
    with pytest.raises(BedFormatError, match=re.escape(corrupt) + r":1: file is truncated or not valid gzip"):
        read_intervals(corrupt, on_bad_line="skip")
    bom = _write(work, "\ufefftrack name=x\nchr1\t1\t10\n".encode(), "bom.bed")
    assert read_intervals(bom).n_records == 1
    many = _write(work, b"chr1\t-1\t5\nchr1\t-2\t5\nchr1\t9\t5\nchr1\t8\t4\n", "many.bed")
    iv = read_intervals(many, on_bad_line="skip")  # one count per kind of problem, not per value
    assert dict(iv.skipped) == {"negative start": 2, "end before start": 2}
    assert iv.skipped_examples == {"negative start": f"{many}:1", "end before start": f"{many}:3"}


# --------------------------------------------------------------------------------------------
# build_dataset on a fuzzed peak file (a few examples: each builds an HDF5 file)
# --------------------------------------------------------------------------------------------
GENOME_CHROMS = {"chr1": 2000, "chr2": 1600}
ALIASES = {"chr1": "chr1", "1": "chr1", "chr2": "chr2", "2": "chr2"}


@pytest.fixture(scope="module")
def tiny_genome(work) -> Path:
    rng = np.random.default_rng(0)
    return write_fasta(work / "genome.fa", {c: "".join(rng.choice(list("ACGT"), n)) for c, n in
                                            GENOME_CHROMS.items()})


@st.composite
def peak_line(draw) -> Tuple[str, str, bool]:
    kind, text, sets_seen = draw(bed_line())
    if kind in ("good", "zero"):
        chrom = draw(st.sampled_from(sorted(ALIASES) + ["chrUn"]))
        start = draw(st.integers(0, 2300))
        end = start if kind == "zero" else start + draw(st.integers(1, 700))
        text = f"{chrom}\t{start}\t{end}"
    return kind, text, sets_seen


@FEW
@given(lines=st.lists(peak_line(), max_size=30), compress=st.booleans())
def test_build_dataset_on_a_fuzzed_peak_file(work, tiny_genome, lines, compress):
    raw = "".join(text + "\n" for _, text, _ in lines).encode()
    peaks = _write(work, gzip.compress(raw) if compress else raw, "fuzzed_peaks.bed")
    fates = _expected(lines)
    cover = {c: np.zeros(n, int) for c, n in GENOME_CHROMS.items()}
    unknown: Dict[str, int] = {}  # records, not merged peaks, on chromosomes the genome lacks
    for (_, text, _), fate in zip(lines, fates):
        if fate == "good" and text.split("\t")[0] not in ALIASES:
            unknown[text.split("\t")[0]] = unknown.get(text.split("\t")[0], 0) + 1
    for chrom, (starts, ends) in _merged(lines, fates).items():
        if chrom not in ALIASES:
            continue
        for s, e in zip(starts, ends):
            cover[ALIASES[chrom]][s:e] = 1
    positives = sum(int((c[: len(c) // 200 * 200].reshape(-1, 200).sum(axis=1) >= 100).sum())
                    for c in cover.values())
    kwargs = dict(valid_fraction=0, test_fraction=0, max_n_fraction=1.0, progress=False, command="fuzz")
    iv = read_intervals(peaks, on_bad_line="skip")

    report = build_dataset(str(tiny_genome), [Feature("f", "TF", peaks)], str(work / "fuzz.h5"),
                           on_bad_line="skip", **kwargs)
    assert report.positives["train"] == [positives]
    assert report.windows["train"] == sum(n // 200 for n in GENOME_CHROMS.values())
    assert report.bad_lines_skipped.get("f", {}) == dict(iv.skipped)
    assert report.peaks_unknown_chrom.get("f", {}) == unknown

    (work / "fuzz_err.h5").unlink(missing_ok=True)
    if "bad" in fates:
        with pytest.raises(BedFormatError) as err:
            build_dataset(str(tiny_genome), [Feature("f", "TF", peaks)], str(work / "fuzz_err.h5"), **kwargs)
        assert str(err.value).startswith(f"{peaks}:{fates.index('bad') + 1}: ")
        assert not (work / "fuzz_err.h5").exists()
    else:
        again = build_dataset(str(tiny_genome), [Feature("f", "TF", peaks)], str(work / "fuzz_err.h5"), **kwargs)
        assert again.positives == report.positives


# --------------------------------------------------------------------------------------------
# dnaseq train configs
# --------------------------------------------------------------------------------------------

VALID = set(valid_keys())
TOP_LEVEL = sorted(k for k in VALID if "." not in k)
OPTIONS = {s: sorted(k.split(".", 1)[1] for k in VALID if k.startswith(s + ".")) for s in SECTIONS}
KEY_CHARS = "abcdefghijklmnopqrstuvwxyz_.-0123456789"


def _typo(key: str, draw) -> str:
    """``key`` with one edit: a letter dropped, doubled, replaced or two swapped."""
    i = draw(st.integers(0, max(len(key) - 2, 0)))
    op = draw(st.sampled_from(["drop", "double", "replace", "swap"]))
    if op == "drop":
        return key[:i] + key[i + 1:]
    if op == "double":
        return key[:i] + key[i] + key[i:]
    if op == "replace":
        return key[:i] + draw(st.sampled_from("aeioux_")) + key[i + 1:]
    return key[:i] + key[i + 1:i + 2] + key[i:i + 1] + key[i + 2:]


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(KEY_CHARS, max_size=8), inner, max_size=3), max_leaves=6)


@st.composite
def option_key(draw, section: str):
    kind = draw(st.sampled_from(["valid", "valid", "valid", "typo", "random", "dotted", "odd"]))
    if kind == "odd":
        return draw(st.one_of(st.integers(), st.none(), st.booleans()))
    if kind == "random":
        return draw(st.text(KEY_CHARS, min_size=1, max_size=12))
    key = draw(st.sampled_from(OPTIONS[section]))
    if kind == "typo":
        return _typo(key, draw)
    return key + ".x" if kind == "dotted" else key


@st.composite
def config_mapping(draw):
    cfg = {}
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["section", "section", "section", "top", "typo", "random", "dotted", "odd"]))
        if kind == "section":
            section = draw(st.sampled_from(SECTIONS))
            value = draw(st.one_of(
                st.dictionaries(option_key(section), VALUES, max_size=4),
                st.dictionaries(option_key(section), VALUES, max_size=4),
                VALUES, st.text(max_size=12)))
            cfg[section] = value
        elif kind == "top":
            cfg[draw(st.sampled_from(TOP_LEVEL))] = draw(VALUES)
        elif kind == "typo":
            cfg[_typo(draw(st.sampled_from(TOP_LEVEL + list(SECTIONS))), draw)] = draw(VALUES)
        elif kind == "random":
            cfg[draw(st.text(KEY_CHARS, min_size=1, max_size=12))] = draw(VALUES)
        elif kind == "dotted":
            section = draw(st.sampled_from(SECTIONS))
            cfg[f"{section}.{draw(option_key(section))}"] = draw(VALUES)
        else:
            cfg[draw(st.one_of(st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False)))] = 1
    return cfg


def _key_ok(key: str) -> bool:
    parts = key.split(".")
    if parts[0] in SECTIONS:
        return len(parts) >= 2 and f"{parts[0]}.{parts[1]}" in VALID
    return key in VALID


def _first_problem(cfg) -> Optional[str]:
    """What the message about ``cfg`` must quote (a key or section), or None when it is fine."""
    for key, value in cfg.items():
        if not isinstance(key, str):
            return repr(key)[:20]
        if key in SECTIONS:
            if isinstance(value, str):
                continue
            if not isinstance(value, dict):
                return repr(key)
            for option in value:
                if not isinstance(option, str):
                    return repr(option)[:20]
                if not _key_ok(f"{key}.{option}"):
                    return repr(f"{key}.{option}")
        elif not _key_ok(key):
            return repr(key)
    return None


@FUZZ
@given(config_mapping())
@example({"model": {"lrate": 0.1}})
@example({"trainer": None})
@example({"modle": {"lr": 1}})
def test_check_config_names_the_bad_key_or_accepts(cfg):
    problem = _first_problem(cfg)
    try:
        check_config(cfg, source="fuzz.yaml")
    except ConfigError as exc:
        msg = str(exc)
        assert problem is not None, f"valid config refused: {msg}"
        assert msg.startswith("fuzz.yaml: ") and problem in msg, (problem, msg)
        hint = re.search(r"did you mean '([^']+)'", msg)
        assert hint is None or hint.group(1) in VALID or hint.group(1) in SECTIONS
        assert "\n" not in msg
    else:
        assert problem is None, f"{problem} accepted"


@pytest.mark.parametrize("cfg,key,near", [
    ({"model": {"lrate": 0.1}}, "model.lrate", "model.lr"),
    ({"trainer": {"max_epohcs": 3}}, "trainer.max_epohcs", "trainer.max_epochs"),
    ({"data": {"batchsize": 3}}, "data.batchsize", "data.batch_size"),
    ({"modle": {"lr": 1}}, "modle", "model"),
    ({"seed_everyting": 1}, "seed_everyting", "seed_everything"),
    ({"trainer.max_epohcs": 1}, "trainer.max_epohcs", "trainer.max_epochs"),
])
def test_misspelt_keys_get_the_nearest_valid_key(cfg, key, near):
    with pytest.raises(ConfigError, match=f"unknown configuration key '{re.escape(key)}'; "
                                          f"did you mean '{re.escape(near)}'"):
        check_config(cfg)


def _mutated_text(text: str, draw) -> str:
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "truncate", "tab", "typo"]))
        if op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 5)):]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from([":", " ", "\n", "- ", "[", "{", '"', "'", "&a", "*a", "!!",
                                                    "%", "\t", "\x00", "@"])) + text[i:]
        elif op == "truncate":
            text = text[:i]
        elif op == "tab":
            text = text.replace("  ", "\t", 1)
        else:
            text = text[:i] + draw(st.sampled_from("xyz_")) + text[i:]
    return text


SHIPPED_CONFIGS = {p.name: p.read_text() for p in sorted((ROOT / "configs").glob("*.yaml"))}


@st.composite
def config_file_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["binary", "text", "yaml", "mutated", "mutated"]))
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(st.text(max_size=200)).encode()
    if kind == "yaml":
        return yaml.safe_dump(draw(st.one_of(config_mapping(), VALUES)), allow_unicode=True).encode()
    return _mutated_text(draw(st.sampled_from(sorted(SHIPPED_CONFIGS.values()))), draw).encode()


@pytest.mark.parametrize("name", sorted(SHIPPED_CONFIGS))
def test_shipped_configs_pass_the_check(name):
    assert isinstance(load_config(str(ROOT / "configs" / name)), dict)


@FUZZ
@given(config_file_bytes())
@example(b"")
@example(b"\x00\xff\xfe")
@example(b"- 1\n- 2\n")
@example(b"model:\n  lr: [\n")
@example(b"trainer:\n")
def test_load_config_on_any_file_raises_only_config_errors_naming_it(work, data):
    path = _write(work, data, "fuzz.yaml")
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        assert path in str(exc) and "\n" not in str(exc), str(exc)
    else:  # accepted: what YAML made of it is a mapping of known keys
        assert isinstance(cfg, dict) and _first_problem(cfg) is None


@FUZZ
@given(st.text(max_size=40))
@example("configs/nope.yaml")
@example("{model: {lr: 0.1}}")
@example("{model: {lrate: 0.1}}")
def test_missing_config_paths_say_not_found(work, name):
    path = name if name.startswith("{") else str(work / "absent" / name)
    assume(not os.path.exists(path))
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        msg = str(exc)
        assert msg == f"config file not found: {path}" or msg.startswith("--config value: "), msg
    else:  # --config also takes YAML text: that was a mapping, and fine
        assert isinstance(yaml.safe_load(path), dict) and cfg == yaml.safe_load(path)


def test_config_paths_finds_every_form():
    argv = ["--config", "a.yaml", "-c", "b.yaml", "--config=c.yaml", "--trainer.max_epochs", "3", "--config"]
    assert config_paths(argv) == ["a.yaml", "b.yaml", "c.yaml"]


KEYS_IN_MESSAGES = st.one_of(st.sampled_from(sorted(VALID)), st.text(KEY_CHARS, min_size=1, max_size=20),
                             st.sampled_from(sorted(VALID)).flatmap(lambda k: st.just(k + "x")))


@FUZZ
@given(st.one_of(
    st.text(max_size=300),
    st.builds(lambda k: f"error: Option '{k}' is not accepted\n", KEYS_IN_MESSAGES),
    st.builds(lambda k: f'error: Parser key "{k}":\n  Expected a <class \'int\'>. Got value: abc\n', KEYS_IN_MESSAGES),
    st.builds(lambda k: f"error: Key \"{k}\" not found in namespace.\n", KEYS_IN_MESSAGES),
    st.builds(lambda k: f"error: unrecognized arguments: --{k} 3\n", KEYS_IN_MESSAGES),
    st.builds(lambda p: f"error: Parser key \"config\": File does not exist: '{p}'\n",
              st.text(st.characters(blacklist_characters="'\n\r"), min_size=1, max_size=30)),
))
def test_explain_config_error_never_raises_and_never_calls_a_valid_key_unknown(message):
    out = explain_config_error(message)
    assert isinstance(out, str) and out.strip()
    unknown = re.search(r"unknown configuration key '([^']*)'(?:; did you mean '([^']*)')?", out)
    if unknown:
        assert unknown.group(1) not in VALID
        assert unknown.group(2) is None or unknown.group(2) in VALID or unknown.group(2) in SECTIONS
    if "File does not exist" in message:
        assert out.startswith("config file not found: ")


@pytest.mark.parametrize("message,expected", [
    ("error: Parser key \"config\": File does not exist: 'configs/nope.yaml'\n",
     "config file not found: configs/nope.yaml"),
    ("error: Parser key \"trainer.max_epochs\":\n  Does not validate against any of the Union subtypes\n"
     "  Subtypes: [<class 'int'>, <class 'NoneType'>]\n  Errors:\n    - Expected a <class 'int'>\n"
     "    - Expected a <class 'NoneType'>\n  Given value type: <class 'str'>\n  Given value: abc\n",
     "invalid value 'abc' for 'trainer.max_epochs' (expected int or NoneType)"),
    ("error: Parser key \"data.batch_size\":\n  Expected a <class 'int'>. Got value: abc\n",
     "invalid value 'abc' for 'data.batch_size' (expected int)"),
    ("error: Option 'modle.lr' is not accepted\n",
     "unknown configuration key 'modle.lr'; did you mean 'model.lr'? (run `dnaseq train --help` for all options)"),
    ("error: Parser key \"model\":\nUnable to load config '/x/m.yaml'\n",
     "cannot load the config file /x/m.yaml given for 'model'"),
    ("usage: dnaseq [-h] ...\nerror: argument -c/--config: expected one argument\n",
     "argument -c/--config: expected one argument"),
    ("error: Key \"data.fill\" not found in namespace.\n", "invalid configuration for 'data.fill': not found in namespace."),
])
def test_explain_config_error_on_real_jsonargparse_messages(message, expected):
    assert explain_config_error(message) == expected


@pytest.mark.parametrize("name,text,expected", [
    ("configs/nope.yaml", None, "dnaseq train: error: config file not found: configs/nope.yaml"),
    ("null_trainer.yaml", "trainer:\nmodel:\n  lr: 0.1\n", "null_trainer.yaml: section 'trainer' is empty"),
])
def test_cli_bad_configs_fail_in_one_line(tmp_path, name, text, expected):
    """The real ``dnaseq train`` in a subprocess (slow: it imports Lightning)."""
    if text is not None:
        (tmp_path / name).write_text(text)
    proc = run_cli("train", "--config", name, cwd=ROOT if text is None else tmp_path, check=False)
    # a config that is not there is a missing input (1, as in every command); a bad one is usage (2)
    assert proc.returncode == (1 if "not found" in expected else 2), proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr and "usage:" not in proc.stderr
    assert "did you mean 'config'" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("dnaseq train: error:")]
