#!/usr/bin/env python
"""Degenerate, damaged and wrong-kind inputs (issue 32), each run at two checkouts in one go:
exit status and the exact last line the user sees, as a Markdown table.

    git worktree add ../before bcff4e1        # the commit issue 32 started from
    python scripts/bench/failure_modes.py --before ../before [--out results/failure_modes.md]

Every case runs ``python -m dnaseq.cli ...`` in a fresh process with ``PYTHONPATH`` set to the
checkout, on files made here from the shipped ``data/dm3_slice`` (nothing downloaded). The model
is the quick-start architecture with untrained weights (the cases are about inputs, not
accuracy), written once by this checkout. Cases whose answer is in the output rather than the
exit status (a multi-ALT record with a malformed REF, a non-integer POS, a byte that is not UTF-8)
add what the output holds.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SLICE = ROOT / "data" / "dm3_slice"
VCF_HEAD = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import make_checkpoint  # noqa: E402  (the same untrained quick-start checkpoint)


def _fsize_limit():
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))


def _rows(prefix: Path, what) -> str:
    path = Path(f"{prefix}.tsv")
    if not path.exists():
        return "no output"
    t = pd.read_csv(path, sep="\t", dtype={"id": str}, keep_default_na=False, na_values=["nan"])
    return what(t)


def cases(d: Path, ckpt: Path):
    """(class, what is run (short), argument lists run in order (the last is reported), preexec, extra)."""
    fa = d / "slice" / "dm3_chr2L_400k.fa.gz"
    bed = d / "slice" / "BEAF_Kc_Bushey_2009.bed"
    (d / "short.fa").write_text(">a\n" + "ACGT" * 100 + "\n>b\n" + "GATTACA" * 50 + "\n")
    (d / "short.tsv").write_text(f"name\tgroup\tpath\nBEAF\tTF\t{bed}\n")
    (d / "genes.bed").write_text("##gff-version 3\n" + "".join(
        f"chr2L\tFlyBase\tgene\t{s}\t{s + 1500}\t.\t+\t.\tID=g{i}\n" for i, s in enumerate(range(20_000, 390_000, 7_000))))
    (d / "gff.tsv").write_text(f"name\tgroup\tpath\ngenes\tTF\t{d / 'genes.bed'}\n")
    (d / "track.bed").write_text("".join(f"chr2L\t{i * 50}\t{i * 50 + 50}\t{i % 3 * 0.5}\n" for i in range(400)))
    (d / "track.tsv").write_text(f"name\tgroup\tpath\ntrack\tTF\t{d / 'track.bed'}\n")
    (d / "one.tsv").write_text(f"name\tgroup\tpath\nBEAF_Kc\tTF\t{bed}\n")
    data = ROOT / "data" / "dm3_insulators.h5"
    cut = d / "cut.h5"
    cut.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    (d / "peaks_as_ref.fa").write_bytes(bed.read_bytes())
    (d / "fasta_as.vcf").write_text(">chr2L\nACGTACGTACGT\n")
    (d / "many.vcf").write_text(VCF_HEAD + "".join(f"chr2L\t{p}\t.\tG\tA\t.\t.\t.\n" for p in range(20_001, 395_000, 250)))
    (d / "bad_ref.vcf").write_text(VCF_HEAD + "chr2L\t20001\tm\tG?\tA,C,T\t.\t.\t.\n")
    (d / "bad_pos.vcf").write_text(VCF_HEAD + "chr2L\t20x01\tp\tG\tA\t.\t.\t.\n")
    (d / "bytes.vcf").write_bytes((VCF_HEAD + "chr2L\t20001\trs\xff1\tG\tA\t.\t.\t.\n").encode("latin-1"))
    shutil.copy(ROOT / "configs" / "quickstart.yaml", d / "tiny.yaml")
    m, o = str(ckpt), d / "out"
    sv = ["score-variants", "-m", m, "-r", str(fa), "-q"]
    one_h5 = str(d / "one.h5")
    train = ["train", "--config", str(d / "tiny.yaml"), "--data.data", one_h5, "--trainer.max_epochs", "1",
             "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
             "--trainer.enable_progress_bar", "false"]
    return [
        ("0 windows: every sequence shorter than the window", "build-dataset, 400 bp and 350 bp records",
         [["build-dataset", "--reference", str(d / "short.fa"), "--manifest", str(d / "short.tsv"),
           "--out", str(o / "short.h5"), "-q"]], None, None),
        ("GFF given as peaks", "build-dataset, a GFF3 of 53 genes named .bed",
         [["build-dataset", "--reference", str(fa), "--manifest", str(d / "gff.tsv"), "--out", str(o / "gff.h5"),
           "-q"]], None, None),
        ("bedGraph given as peaks", "build-dataset, a bedGraph named .bed",
         [["build-dataset", "--reference", str(fa), "--manifest", str(d / "track.tsv"),
           "--out", str(o / "track.h5"), "-q"]], None, None),
        ("BED given as the reference", "build-dataset --reference peaks.fa (a BED)",
         [["build-dataset", "--reference", str(d / "peaks_as_ref.fa"), "--manifest", str(SLICE / "manifest.tsv"),
           "--out", str(o / "ref.h5"), "-q"]], None, None),
        ("FASTA given as the VCF", "score-variants --vcf x.vcf (a FASTA)",
         [sv + ["--vcf", str(d / "fasta_as.vcf"), "-o", str(o / "fav")]], None, None),
        ("truncated HDF5 dataset", "evaluate, the dataset cut to a third",
         [["evaluate", "-m", m, "--data", str(cut), "--split", "test", "-o", str(o / "cut"), "-q"]], None, None),
        ("file-size limit (disk full)", "score-variants of 1,500 SNVs under a 16 KiB limit",
         [sv + ["--vcf", str(d / "many.vcf"), "-o", str(o / "full")]], _fsize_limit, None),
        ("multi-ALT record, malformed REF", "score-variants, REF G? with ALT A,C,T",
         [sv + ["--vcf", str(d / "bad_ref.vcf"), "-o", str(o / "mref")]], None,
         lambda: _rows(o / "mref", lambda t: f"{len(t)} row(s), alt {','.join(map(str, t.alt))}")),
        ("non-integer POS", "score-variants, POS 20x01",
         [sv + ["--vcf", str(d / "bad_pos.vcf"), "-o", str(o / "pos")]], None,
         lambda: _rows(o / "pos", lambda t: f"pos {t.pos.iloc[0]}, note: {t.note.iloc[0][:60]}")),
        ("a byte that is not UTF-8", "score-variants, ID rs\\xff1",
         [sv + ["--vcf", str(d / "bytes.vcf"), "-o", str(o / "utf")]], None,
         lambda: _rows(o / "utf", lambda t: f"id {t.id.iloc[0]}, note: {t.note.iloc[0][:70] or '(none)'}")),
        ("one feature", "build-dataset with 1 feature, then train (quick-start config, 2 steps)",
         [["build-dataset", "--reference", str(fa), "--manifest", str(d / "one.tsv"), "--out", one_h5, "-q"],
          train], None, None),
        ("a stride wider than the window", "predict --chroms chr2L --stride 5000",
         [["predict", "-m", m, "-r", str(fa), "--chroms", "chr2L", "--stride", "5000", "-o", str(o / "wide"), "-q"]],
         None, None),
        ("a split of one window", "evaluate a 1-window test split",
         [["build-dataset", "--reference", str(d / "onewin.fa"), "--manifest", str(SLICE / "manifest.tsv"),
           "--valid-chroms", "chrV", "--test-chroms", "chrT", "--out", str(d / "onewin.h5"), "-q"],
          ["evaluate", "-m", m, "--data", str(d / "onewin.h5"), "--split", "test", "-o", str(o / "onewin"), "-q"]],
         None, None),
    ]


def _one_window_genome(d: Path) -> None:
    """chr2L of the slice plus two 1000 bp chromosomes of its real sequence (one window each)."""
    import numpy as np

    from dnaseq import Genome, decode
    from dnaseq.sequence.genome import write_fasta
    with Genome(str(d / "slice" / "dm3_chr2L_400k.fa.gz")) as g:
        codes = g.chromosome_codes("chr2L")
    clean = [i for i in range(0, len(codes) - 1000, 1000) if (codes[i:i + 1000] != 4).all()][:2]
    seq = decode(np.asarray(codes))
    write_fasta(d / "onewin.fa", {"chr2L": seq, "chrV": seq[clean[0]:clean[0] + 1000],
                                  "chrT": seq[clean[1]:clean[1] + 1000]})


def run_case(checkout: Path, work: Path, argvs, preexec, extra):
    for stale in ("one.h5", "onewin.h5", "runs", "out"):
        p = work / stale
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONWARNINGS": "ignore"}
    for argv in argvs:
        p = subprocess.run([sys.executable, "-m", "dnaseq.cli", *argv], capture_output=True, text=True,
                           env=env, cwd=work, preexec_fn=preexec, timeout=600)
    lines = [ln for ln in (p.stderr or p.stdout).splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else "(nothing printed)"
    tb = "Traceback" in p.stderr
    msg = (f"traceback ({len(lines)} lines) ending: " if tb else "") + last
    msg = msg.replace(str(work) + "/", "").replace("|", "\\|")
    if extra is not None:
        msg += f" [{extra()}]"
    return p.returncode, (msg[:230] + "...") if len(msg) > 233 else msg


def before_after(description: str, first_column: str, make_cases, run_case, prepare=None) -> None:
    """The main of a before/after table (this script's and ``first_hour.py``'s): ``--before`` and
    ``--out`` parsed; the shipped slice copied and the quick-start checkpoint written in a
    temporary folder (``prepare(folder)`` adds files); each case of ``make_cases(folder,
    checkpoint)`` (name, command shown, then ``run_case``'s own arguments) run at both checkouts;
    the table printed row by row and at the end."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="a checkout of the commit to compare with")
    ap.add_argument("--out", help="also write the table here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        shutil.copytree(SLICE, d / "slice")
        if prepare is not None:
            prepare(d)
        ckpt = d / "model.ckpt"
        make_checkpoint(ckpt)
        rows = [f"| {first_column} | command | before: exit, last line | after: exit, last line |", "|---|---|---|---|"]
        for name, shown, *case in make_cases(d, ckpt):
            got = [run_case(Path(c).resolve(), d, *case) for c in (args.before, ROOT)]
            rows.append(f"| {name} | {shown} | {got[0][0]}: {got[0][1]} | {got[1][0]}: {got[1][1]} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    print("\n" + table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    before_after(__doc__, "class", cases, run_case, prepare=_one_window_genome)
