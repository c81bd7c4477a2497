"""scripts/prioritize_benchmark.py on the shipped slice: labels, REF, peaks, motifs, N rule,
seeding, and the 6-mer baseline against a brute-force recount (all recomputed here directly)."""
from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from dnaseq.sequence.genome import Genome
from dnaseq.sequence.motifs import read_motifs
from dnaseq.sequence.vcf import read_vcf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "prioritize_benchmark.py")
SLICE = os.path.join(ROOT, "data", "dm3_slice")
FASTA = os.path.join(SLICE, "dm3_chr2L_400k.fa.gz")
MEME = os.path.join(ROOT, "tests", "data", "interpret", "jaspar2024_core_subset.meme")
VCFS = ("positives.vcf", "negatives_random.vcf", "negatives_peak.vcf")
MOTIF_PROTEINS = {"MA0529": {"BEAF", "Cp190"}, "MA0531": {"CTCF", "Cp190"}, "MA0533": {"SuHw", "Cp190"}}
COMP = str.maketrans("ACGT", "TGCA")


def run(*args):
    proc = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def build(out, seed):
    return run("--reference", FASTA, "--peaks-dir", SLICE, "--motifs", MEME, "--chromosomes", "chr2L,chrX",
               "--out", str(out), "--seed", str(seed))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench")
    build(base / "a", 0)
    build(base / "b", 0)
    build(base / "c", 1)
    run("kmer", "--reference", FASTA, "--peaks-dir", SLICE, "--train-chromosomes", "chr2L", "--out", str(base / "a"))
    return base


@pytest.fixture(scope="module")
def genome():
    return Genome(FASTA)


@pytest.fixture(scope="module")
def seq(genome):
    return genome.fetch_text("chr2L", 0, genome.length("chr2L")).upper()


@pytest.fixture(scope="module")
def peaks():
    """protein -> list of raw (start, end) peaks on chr2L, read directly."""
    out = {}
    for path in glob.glob(os.path.join(SLICE, "*_Bushey_2009.bed")):
        prot = os.path.basename(path).split("_")[0]
        with open(path) as fh:
            for line in fh:
                if line.startswith(("track", "#", "browser")) or not line.strip():
                    continue
                c, s, e = line.split("\t")[:3]
                if c == "chr2L":
                    out.setdefault(prot, []).append((int(s), int(e)))
    return out


@pytest.fixture(scope="module")
def pwms():
    """motif id prefix -> 4 x W log2-odds (pseudocount 0.01, uniform background), computed here."""
    out = {}
    for m in read_motifs(MEME):
        key = m.id.split(".")[0]
        if key in MOTIF_PROTEINS:
            out[key] = np.log2((m.pfm + 0.01) / 1.04 / 0.25)
    return out


def score(lo, text):
    return float(sum(lo["ACGT".index(b), j] for j, b in enumerate(text)))


def strand_score(lo, text, strand):
    return score(lo, text if strand == "+" else text.translate(COMP)[::-1])


def rows(path):
    return list(read_vcf(str(path)))


def info(row_line):
    return dict(kv.split("=", 1) for kv in row_line.split("\t")[7].split(";"))


def data_lines(path):
    return [ln.rstrip("\n") for ln in open(path) if not ln.startswith("#")]


def in_any(intervals, start, end):
    return any(s <= start and end <= e for s, e in intervals)


def test_vcfs_parse_sorted_and_ref_matches(runs, seq):
    summary = json.load(open(runs / "a" / "summary.json"))
    assert summary["inputs"]["chromosomes_missing"] == ["chrX"]  # the slice has chr2L only
    for name in VCFS:
        text = open(runs / "a" / name).read()
        assert text.startswith("##fileformat=VCFv4.2\n")
        assert "##contig=<ID=chr2L,length=400000>" in text and "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO" in text
        rs = rows(runs / "a" / name)
        assert rs and all(r.kind == "snv" for r in rs)
        pos = [r.pos for r in rs]
        assert pos == sorted(pos) and len(set(pos)) == len(pos)
        for r in rs:
            assert r.chrom == "chr2L" and r.ref == seq[r.pos - 1] and r.ref in "ACGT" and r.alt in "ACGT"
            assert r.alt != r.ref
    n_pos = len(rows(runs / "a" / "positives.vcf"))
    assert n_pos >= 10
    manifest = [ln.split("\t") for ln in open(runs / "a" / "manifest.tsv").read().splitlines()[1:]]
    counts = {(s, c): int(n) for s, c, n, _ in manifest}
    assert counts[("positive", "chr2L")] == n_pos == summary["counts"]["positive"]["chr2L"]
    for s, f in (("random", "negatives_random.vcf"), ("peak", "negatives_peak.vcf")):
        assert counts[(s, "chr2L")] == len(rows(runs / "a" / f)) == 4 * n_pos
    assert summary["params"]["seed"] == 0 and summary["params"]["pvalue"] == 1e-4


def test_positives_are_best_disruptions_of_strong_matches_in_peaks(runs, seq, peaks, pwms):
    motifs = json.load(open(runs / "a" / "summary.json"))["motifs"]
    lines = data_lines(runs / "a" / "positives.vcf")
    for line, r in zip(lines, rows(runs / "a" / "positives.vcf")):
        inf = info(line)
        assert inf["SET"] == "positive"
        key = inf["MOTIF"].split(".")[0]
        lo, start, end, strand = pwms[key], int(inf["MSTART"]) - 1, int(inf["MEND"]), inf["STRAND"]
        assert end - start == lo.shape[1] and start <= r.pos - 1 < end
        site = seq[start:end]
        assert "N" not in site
        s = strand_score(lo, site, strand)
        assert s == pytest.approx(float(inf["MSCORE"]), abs=1e-3)
        assert s >= motifs[key]["threshold"] - 1e-3
        j = r.pos - 1 - start
        alt_site = site[:j] + r.alt + site[j + 1:]
        drop = s - strand_score(lo, alt_site, strand)
        assert drop > 0 and drop == pytest.approx(float(inf["MDROP"]), abs=1e-3)
        best = max(s - strand_score(lo, site[:i] + b + site[i + 1:], strand)
                   for i in range(len(site)) for b in "ACGT" if b != site[i])
        assert drop == pytest.approx(best, abs=1e-9)
        # inside a peak of a protein scanned for this motif, the whole match covered by its peaks
        owners = [iv for p in MOTIF_PROTEINS[key] for iv in peaks.get(p, [])]
        assert in_any(owners, r.pos - 1, r.pos)
        assert all(in_any(owners, b, b + 1) for b in range(start, end))


def test_peak_negatives_in_peaks_and_clear_of_weak_matches(runs, seq, peaks, pwms):
    motifs = json.load(open(runs / "a" / "summary.json"))["motifs"]
    margin = json.load(open(runs / "a" / "summary.json"))["params"]["margin"]
    all_peaks = [iv for ivs in peaks.values() for iv in ivs]
    rs = rows(runs / "a" / "negatives_peak.vcf")
    assert all(info(ln)["SET"] == "peak" for ln in data_lines(runs / "a" / "negatives_peak.vcf"))
    for r in rs:
        p = r.pos - 1
        assert in_any(all_peaks, p, p + 1)
        for key, lo in pwms.items():
            w, weak = lo.shape[1], motifs[key]["weak_threshold"]
            for start in range(p - margin - w + 1, p + margin + 1):  # every match within margin of p
                site = seq[start:start + w]
                if start < 0 or len(site) < w or "N" in site:
                    continue
                assert max(strand_score(lo, site, "+"), strand_score(lo, site, "-")) < weak - 1e-9, (r.pos, key)
        window = seq[p - 500:p + 500]
        assert p >= 500 and len(window) == 1000 and window.count("N") <= 500


def test_random_negatives_pass_the_n_rule(runs, seq):
    for r in rows(runs / "a" / "negatives_random.vcf"):
        p = r.pos - 1
        assert seq[p] != "N" and p - 500 >= 0 and p + 500 <= len(seq)
        assert seq[p - 500:p + 500].count("N") <= 500


def test_seed_reproducible_and_changes_negatives(runs):
    for name in VCFS + ("manifest.tsv", "summary.json"):
        assert open(runs / "a" / name).read() == open(runs / "b" / name).read(), name
    for name in VCFS[1:]:
        a = {(r.pos, r.alt) for r in rows(runs / "a" / name)}
        c = {(r.pos, r.alt) for r in rows(runs / "c" / name)}
        assert a != c and len(a) == len(c)
    # positives are below the cap on the slice, so the seed does not change them
    assert data_lines(runs / "a" / "positives.vcf") == data_lines(runs / "c" / "positives.vcf")


def _canonical(kmer):
    return min(kmer, kmer.translate(COMP)[::-1])


def _counts(text, k=6):
    out = {}
    for i in range(len(text) - k + 1):
        km = text[i:i + k]
        if "N" not in km:
            c = _canonical(km)
            out[c] = out.get(c, 0) + 1
    return out


def test_kmer_baseline_matches_brute_force(runs, seq):
    weights = {}
    with open(runs / "a" / "kmer_weights.tsv") as fh:
        assert fh.readline().startswith("# k=6")
        assert fh.readline().strip() == "kmer\tweight"
        for line in fh:
            km, w = line.split("\t")
            weights[km] = float(w)
    assert len(weights) == 2080 and any(w != 0 for w in weights.values())
    report = json.load(open(runs / "a" / "kmer_baseline.json"))
    assert report["model"]["train_chromosomes"] == ["chr2L"] and report["model"]["k"] == 6
    for name in VCFS:
        stem = name[:-4]
        tsv = [ln.split("\t") for ln in open(runs / "a" / f"{stem}.kmer_delta.tsv").read().splitlines()]
        assert tsv[0] == ["chrom", "pos", "ref", "alt", "kmer_delta"]
        rs = rows(runs / "a" / name)
        assert len(tsv) - 1 == len(rs)
        vals = np.array([float(t[4]) for t in tsv[1:]])
        assert np.isfinite(vals).all() and (vals >= 0).all()
        for t, r in zip(tsv[1:], rs):
            assert (t[0], int(t[1]), t[2], t[3]) == (r.chrom, r.pos, r.ref, r.alt)
        for i in range(0, len(rs), max(1, len(rs) // 4)):  # a few variants per set, brute force
            r, p = rs[i], rs[i].pos - 1
            ref_w = seq[max(p - 500, 0):p + 500]
            alt_w = ref_w[:p - max(p - 500, 0)] + r.alt + ref_w[p - max(p - 500, 0) + 1:]
            a, b = _counts(alt_w), _counts(ref_w)
            delta = sum(weights[km] * (a.get(km, 0) - b.get(km, 0)) for km in set(a) | set(b))
            assert math.isclose(vals[i], abs(delta), rel_tol=1e-7, abs_tol=1e-9), (name, r.pos)
