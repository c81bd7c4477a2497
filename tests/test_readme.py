"""Every code block of README.md and of the pages in docs/ runs here, so documentation that drifts
from the code fails.

Conventions (docs/testing.md states them in one paragraph):

* Fenced blocks only, each with a language: ``bash`` blocks run in ``bash -e -o pipefail``, each in
  a subprocess; ``python`` blocks run as written, each in a fresh namespace (in this process, so
  ``import dnaseq`` is paid once), with the scratch folder as the working directory; ``text``
  blocks are output or listings and never run. An indented (4-space) code block is an error.
* An HTML comment on the line before a fence changes that block:
  ``<!-- readme-test: skip (reason) -->`` does not run it (a reason is required; skipped blocks
  are counted), ``<!-- readme-test: continues -->`` runs a python block in the namespace of the
  python block before it.
* All blocks run in order (README.md, then the pages of ``DOCS``) in one scratch folder holding copies of ``data/`` (with
  ``dm3_insulators.h5`` cut to a few hundred windows per split), ``configs/``, ``scripts/`` and
  ``tests/data/interpret/``, so later blocks use what earlier ones wrote (the quick start's run
  folder, ``seqs.fa``, ...). Nothing is written into the repository.
* Long steps are shortened by options appended to the command (``SHORTEN``), through a
  ``dnaseq`` wrapper first on ``PATH`` (so ``scripts/quickstart.py``'s own ``dnaseq train`` is
  shortened too); ``pip`` is a no-op (the package under test is already installed).
* Speed: importing what a dnaseq command needs (torch, Lightning) takes about 5 s and the README runs some 20 dnaseq
  commands, so by default each ``dnaseq`` command is a process forked from a server that has
  imported dnaseq once (``tests/forkserver.py``; every command still gets its own process, arguments, working
  folder, environment and standard streams, and its exit status is the command's).
  ``DNASEQ_README_FORK=0`` runs each command as a fresh ``python -m dnaseq.cli`` instead.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import pytest

from tests.forkserver import ForkServer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# the pages run after README.md, in this order: a page may use what the README or an earlier page wrote
DOCS = ["data.md", "training.md", "apply.md", "variants.md", "interpret.md", "design.md", "prioritize.md",
        "lm.md", "published.md", "accuracy.md", "benchmarks.md", "testing.md", "layout.md"]
PAGES = [README] + [ROOT / "docs" / name for name in DOCS]
README_MAX_LINES = 300
MAX_SKIPPED_PER_PAGE = 3

RUN_LANGS = ("bash", "python")
TEXT_LANGS = ("text",)
MARK = re.compile(r"<!--\s*readme-test:\s*(?P<kind>skip|continues)\s*(?:\((?P<reason>[^)]*)\))?\s*-->")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)\s*$")

# appended to `dnaseq <command> ...` in the README blocks (not to --help); argparse / jsonargparse
# take the last value of an option given twice, so these override the README's own values
SHORTEN = {
    # 16 filters: the quick start's 96 make every later block (ISM, variants, motifs) slower
    "train": ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
              "--model.arch_args.conv_filters", "[16]"],
    "tune": ["--trials", "1", "--set", "trainer.max_epochs=1", "--set", "trainer.limit_train_batches=2",
             "--set", "trainer.limit_val_batches=2"],
    "motifs": ["--no-logos", "--influence-windows", "64", "--modisco-windows", "32"],
    "design": ["--max-edits", "1", "--chains", "2", "--protect-core", "900"],
    "background": ["-n", "300"],
}
# `dnaseq train` of a language model (a config named lm*.yaml): no conv_filters, a smaller recurrence
SHORTEN_LM = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
              "--model.arch_args.rnn_hidden", "16"]
# windows kept per split of the scratch copy of data/dm3_insulators.h5
EXCERPT = {"train": 512, "valid": 256, "test": 512}
BLOCK_TIMEOUT = 600
# one torch thread: on a busy 2-core machine a second OpenMP thread makes small models many times
# slower (a first design() call took 35 s with 2 threads, 1.5 s with 1)
QUIET_ENV = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    mark: Optional[str] = None  # "skip" or "continues"
    reason: str = ""
    source: str = "README.md"

    def where(self) -> str:
        return f"{self.source}:{self.line} ({self.lang})"


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def parse_readme(text: str, source: str = "README.md") -> List[Block]:
    """The fenced code blocks of ``text`` (the file ``source``); raises ValueError on an untagged,
    unknown-language, unclosed or indented code block, or a skip without a reason."""
    lines = text.splitlines()
    blocks: List[Block] = []
    i = 0
    prev_blank = True
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if prev_blank and lines[i].startswith("    ") and lines[i].strip() and not _in_list(lines, i):
                raise ValueError(f"{source}:{i + 1}: an indented code block; fence it (```bash / ```text)")
            prev_blank = not lines[i].strip()
            i += 1
            continue
        fence, lang = m.group("fence"), m.group("lang")
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence[0] * len(fence)):
            j += 1
        if j == len(lines):
            raise ValueError(f"{source}:{start + 1}: code block is never closed")
        if lang not in RUN_LANGS + TEXT_LANGS:
            raise ValueError(f"{source}:{start + 1}: code block language {lang!r}: use one of "
                             f"{', '.join(RUN_LANGS + TEXT_LANGS)} (text is never run)")
        block = Block(start + 1, lang, "\n".join(lines[start + 1:j]) + "\n", source=source)
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mark = MARK.search(lines[k]) if k >= 0 else None
        if mark:
            block.mark, block.reason = mark.group("kind"), (mark.group("reason") or "").strip()
            if block.mark == "skip" and not block.reason:
                raise ValueError(f"{source}:{start + 1}: a skipped block needs a reason: "
                                 f"<!-- readme-test: skip (why) -->")
            if block.mark == "continues" and lang != "python":
                raise ValueError(f"{source}:{start + 1}: only python blocks can continue the one before")
        blocks.append(block)
        i = j + 1
        prev_blank = True
    return blocks


def _in_list(lines: List[str], i: int) -> bool:
    """Line ``i`` continues a list item (an indented paragraph, not a code block)."""
    for k in range(i - 1, -1, -1):
        s = lines[k]
        if not s.strip():
            continue
        if re.match(r"\s*([-*+]|\d+\.)\s", s):
            return True
        if not s.startswith(" "):
            return False
    return False


# -- the scratch folder ------------------------------------------------------------------------
def _excerpt_dataset(src: Path, dst: Path) -> None:
    """A copy of the dataset with a few hundred windows per split: every feature keeps positives."""
    import h5py
    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
        for key, value in fin.attrs.items():
            fout.attrs[key] = value
        for split, n in EXCERPT.items():
            g = fin[split]
            labels = g["labels"][:]
            keep = set()
            for f in range(labels.shape[1]):
                pos = np.flatnonzero(labels[:, f])
                keep.update(pos[::max(1, len(pos) // 8)][:8].tolist())
            rest = [i for i in np.linspace(0, len(labels) - 1, n).astype(int).tolist() if i not in keep]
            idx = np.array(sorted(keep | set(rest[:max(0, n - len(keep))])))
            out = fout.create_group(split)
            for name, ds in g.items():
                d = out.create_dataset(name, data=ds[idx], compression="gzip", chunks=True)
                for key, value in ds.attrs.items():
                    d.attrs[key] = value


def _wrapper(name: str, body: str, folder: Path) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n# written by tests/test_readme.py\n" + body)
    path.chmod(0o755)


def make_scratch(folder: Path, server: Optional[ForkServer] = None) -> dict:
    """Fill ``folder`` as the README blocks expect; returns the environment to run them in."""
    for name in ("configs", "scripts"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "data").mkdir()
    for name in ("dm3_slice", "dm3_lm"):
        shutil.copytree(ROOT / "data" / name, folder / "data" / name,  # as cloned: no indexes
                        ignore=shutil.ignore_patterns("*.fai", "*.gzi"))
    _excerpt_dataset(ROOT / "data" / "dm3_insulators.h5", folder / "data" / "dm3_insulators.h5")
    shutil.copytree(ROOT / "tests" / "data" / "interpret", folder / "tests" / "data" / "interpret")
    bin_dir = folder / ".readme-bin"
    bin_dir.mkdir()
    py = shlex.quote(sys.executable)
    def quoted(extra):
        return " ".join(map(shlex.quote, extra))
    cases = "".join(f"  {cmd}) set -- \"$@\" {quoted(extra)} ;;\n" for cmd, extra in SHORTEN.items() if cmd != "train")
    cases += (f'  train) case " $* " in *configs/lm*.yaml*) set -- "$@" {quoted(SHORTEN_LM)} ;; '
              f'*) set -- "$@" {quoted(SHORTEN["train"])} ;; esac ;;\n')
    if server is not None:
        run = f'exec {py} -S {shlex.quote(str(server.client))} "$@"'
    else:
        run = f'exec {py} -m dnaseq.cli "$@"'
    _wrapper("dnaseq", 'for a in "$@"; do case "$a" in -h|--help) ' + run + ' ;; esac; done\n'
             'case "$1" in\n' + cases + "esac\n" + run + "\n", bin_dir)
    _wrapper("pip", 'echo "readme-test: skipped: pip $*" >&2\n', bin_dir)
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(os.environ)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1",
               PYTHONDONTWRITEBYTECODE="1", **QUIET_ENV)
    return env


# -- running blocks ----------------------------------------------------------------------------
def _tail(text: str, n: int = 4000) -> str:
    return text if len(text) <= n else "...\n" + text[-n:]


def run_bash(block: Block, cwd: Path, env: dict) -> str:
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-x", "-c", block.code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
    if proc.returncode != 0:
        raise AssertionError(f"{block.where()} failed (exit {proc.returncode}):\n{block.code}\n"
                             f"--- stdout\n{_tail(proc.stdout)}\n--- stderr\n{_tail(proc.stderr)}")
    return proc.stdout + proc.stderr


def run_python(block: Block, cwd: Path, namespace: dict) -> None:
    import matplotlib
    import torch
    before, threads = os.getcwd(), torch.get_num_threads()
    matplotlib.use("Agg")
    os.chdir(cwd)
    torch.set_num_threads(1)
    try:
        exec(compile(block.code, block.where(), "exec"), namespace)
    except Exception as exc:
        raise AssertionError(f"{block.where()} failed: {type(exc).__name__}: {exc}\n{block.code}") from exc
    finally:
        os.chdir(before)
        torch.set_num_threads(threads)


# -- tests ---------------------------------------------------------------------------------------
def all_blocks() -> List[Block]:
    """Every fenced block of README.md, then of each page of ``DOCS``, in the order they run."""
    blocks: List[Block] = []
    for page in PAGES:
        blocks += parse_readme(page.read_text(encoding="utf-8"), _name(page))
    return blocks


def test_readme_blocks_are_tagged_and_parse():
    for page in PAGES:
        blocks = parse_readme(page.read_text(encoding="utf-8"), _name(page))
        runnable = [b for b in blocks if b.lang in RUN_LANGS]
        skipped = [b for b in runnable if b.mark == "skip"]
        assert len(skipped) <= MAX_SKIPPED_PER_PAGE, f"too many skipped blocks: {[b.where() for b in skipped]}"
        python = [b for b in blocks if b.lang == "python"]
        if python:
            assert python[0].mark != "continues", f"{python[0].where()} continues nothing"
    assert any(b.lang in RUN_LANGS and b.mark is None for b in parse_readme(README.read_text(encoding="utf-8")))


def test_readme_guides_and_every_docs_page_is_tested():
    """README.md stays a short tour; every page in docs/ runs in this test, and every link from the
    README to a page resolves."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, "README.md grew past its budget: move details to docs/"
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert sorted(DOCS) == pages, f"docs pages not in DOCS (tests/test_readme.py) or missing: {set(pages) ^ set(DOCS)}"
    for page in PAGES:
        for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{_name(page)} links to {target}, which does not exist"
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)\)", text))
    assert linked == set(DOCS), f"README.md does not link to {set(DOCS) - linked}"


def test_readme_says_how_its_blocks_are_shortened():
    text = " ".join((ROOT / "docs" / "testing.md").read_text(encoding="utf-8").split())
    start = text.index("is run by `tests/test_readme.py`")
    para = text[start:text.index("runs in the namespace of the one before", start)]
    assert " / ".join(str(n) for n in EXCERPT.values()) in para
    for cmd, extra in SHORTEN.items():
        assert f"`dnaseq {cmd}`" in para, f"docs/testing.md does not say how `dnaseq {cmd}` is shortened"
        if cmd != "tune":  # tune's --set settings are "those train settings"
            assert " ".join(extra) in para, f"docs/testing.md does not give {' '.join(extra)} for dnaseq {cmd}"
    assert " ".join(SHORTEN_LM[-2:]) in para, "docs/testing.md does not say how a language model's training is shortened"


def test_parser_conventions():
    text = ("x\n\n<!-- readme-test: skip (needs GPUs) -->\n```bash\nnvidia-smi\n```\n\n```python\na = 1\n```\n"
            "<!-- readme-test: continues -->\n```python\nprint(a)\n```\n```text\nout\n```\n")
    blocks = parse_readme(text)
    assert [(b.lang, b.mark, b.reason) for b in blocks] == [
        ("bash", "skip", "needs GPUs"), ("python", None, ""), ("python", "continues", ""), ("text", None, "")]
    assert blocks[0].code == "nvidia-smi\n" and blocks[0].line == 4
    for bad in ("```\nls\n```\n", "```sh\nls\n```\n", "```bash\nls\n", "para\n\n    dnaseq info x\n",
                "<!-- readme-test: skip -->\n```bash\nls\n```\n"):
        with pytest.raises(ValueError):
            parse_readme(bad)
    assert parse_readme("- item\n\n    continued item text\n") == []


@pytest.fixture
def fork_server(tmp_path_factory):
    if os.environ.get("DNASEQ_README_FORK", "1") == "0" or not hasattr(__import__("socket"), "send_fds"):
        yield None
        return
    server = ForkServer(tmp_path_factory.mktemp("fork"), QUIET_ENV)
    try:
        yield server
    finally:
        server.close()


def test_every_readme_block_runs(tmp_path, fork_server):
    t_all = time.perf_counter()
    blocks = all_blocks()
    env = make_scratch(tmp_path, fork_server)
    if fork_server is not None:
        fork_server.wait_ready()
    runnable = [b for b in blocks if b.lang in RUN_LANGS]
    executed, skipped, times, failures = [], [], [], []
    namespace: Optional[dict] = None
    for block in runnable:
        if block.mark == "skip":
            skipped.append(block)
            continue
        t0 = time.perf_counter()
        try:  # run every block (later ones rarely depend on a failed one): report all failures
            if block.lang == "bash":
                run_bash(block, tmp_path, env)
            else:
                if block.mark != "continues" or namespace is None or namespace["__file__"] != block.source:
                    namespace = {"__name__": "__main__", "__file__": block.source}
                run_python(block, tmp_path, namespace)
            executed.append(block)
        except AssertionError as exc:
            failures.append(str(exc))
        times.append((time.perf_counter() - t0, block.where()))
    total = time.perf_counter() - t_all
    print(f"\nREADME and docs: executed {len(executed)} of {len(runnable)} code blocks "
          f"({len(skipped)} skipped, {len(failures)} failed, {len(blocks) - len(runnable)} text blocks not run) "
          f"in {total:.0f} s")
    for b in skipped:
        print(f"  skipped {b.where()}: {b.reason}")
    for seconds, where in sorted(times, reverse=True):
        print(f"  {seconds:6.1f} s  {where}")
    assert not failures, f"{len(failures)} README block(s) failed:\n\n" + "\n\n".join(failures)
    assert len(executed) + len(skipped) == len(runnable)
    # what the examples promise exists
    run = tmp_path / "runs" / "quickstart"
    assert (run / "version_0" / "best.ckpt").exists() and (run / "version_0" / "last.ckpt").exists()
    for path in ("slice.h5", "eval/metrics.json", "cmp", "preds.tsv", "chr2L.BEAF_Kc.bw", "seqs.h5",
                 "scores.tsv", "ism.h5", "attr.h5", "motifs/filter_motifs.tsv", "designs/d.designed.fa",
                 "designs/f.designed.fa", "designs/r.designed.fa", "tune_quickstart/best_config.yaml",
                 "calibrated.tsv", "ranked.tsv", "lm/eval/lm_metrics.tsv", "lm/generated.fa"):
        assert (tmp_path / "out" / path).exists(), f"an example did not write out/{path}"
    stray = sorted(p.name for p in tmp_path.iterdir()
                   if p.name not in {"out", "runs", "data", "configs", "scripts", "tests", ".readme-bin"})
    assert not stray, f"examples wrote outside out/ and runs/: {stray}"
