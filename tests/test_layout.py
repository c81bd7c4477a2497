"""The package's layout is its architecture: stages import only stages below them, nothing
imports in a loop, nothing but the few shared helpers sits at the root, and the command line
answers without importing torch.

The import graph is read with the standard library's ``ast`` (every import, at the top of a
module or inside a function), so the test needs no extra tool and sees imports that only run
on some paths."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dnaseq"

#: stages from the bottom up; a module may import its own stage and the ones before it
STAGES = ["", "sequence", "plots", "data", "models", "training", "inference", "apply", "prioritize", "interpret",
          "design", "cli"]
#: the only modules at the root: the API facade, and helpers every stage may use (no torch)
ROOT_MODULES = {"__init__", "_version", "_lazy", "outputs", "settings"}


def module_name(path: Path) -> str:
    parts = ["dnaseq", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known) -> set:
    """Every dnaseq module ``name`` imports (``from pkg import submodule`` counts as the submodule)."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "dnaseq"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "dnaseq":
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & set(known)
            found |= subs or {target}
    return {m for m in found if m != name}


def stage(name: str) -> int:
    parts = name.split(".")
    return STAGES.index(parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGES) else "")


@pytest.fixture(scope="module")
def graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_stage_folders_and_root():
    root = {p.stem for p in PACKAGE.glob("*.py")}
    assert root == ROOT_MODULES, f"modules at the package root beyond the shared few: {sorted(root - ROOT_MODULES)}"
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(STAGES[1:]), f"stage folders differ from the declared stages: {sorted(folders ^ set(STAGES[1:]))}"


def test_every_import_points_down(graph):
    up = [f"{a} (stage {STAGES[stage(a)] or 'root'}) imports {b} (stage {STAGES[stage(b)]})"
          for a, targets in graph.items() if a != "dnaseq"  # the API facade re-exports every stage
          for b in sorted(targets) if stage(b) > stage(a)]
    assert not up, "imports that point up a stage:\n" + "\n".join(up)


def test_no_import_loops(graph):
    # Tarjan's strongly connected components: any component of more than one module is a loop
    index, low, stack, on, loops = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                loops.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    assert not loops, f"import loops: {loops}"


def test_the_checker_sees_an_upward_arrow_and_a_loop(tmp_path):
    """The rules above would catch a violation (not vacuously true)."""
    fake = {"dnaseq.sequence.genome": {"dnaseq.apply.predict"}, "dnaseq.apply.predict": {"dnaseq.sequence.genome"}}
    assert stage("dnaseq.sequence.genome") < stage("dnaseq.apply.predict")
    assert any(stage(b) > stage(a) for a, t in fake.items() for b in t)
    assert stage("dnaseq.settings") == 0 and stage("dnaseq.cli") == STAGES.index("cli")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["score-variants", "--help"], ["predict", "--help"],
                                  ["attribute", "--help"], ["import-weights", "--help"], ["tune", "--help"],
                                  ["design", "--help"], ["build-dataset", "--help"], ["score-variants"],
                                  ["nosuchcommand"], ["evaluate", "-m", "nope.ckpt", "-d", "nope.h5"],
                                  ["score-variants", "-m", "nope.ckpt", "--vcf", "x.vcf", "-r", "x.fa", "-o", "o"],
                                  ["tune", "-c", "nope.yaml", "-s", "s.yaml", "-o", "o"],
                                  ["generate", "-m", "m.ckpt", "-o", "o", "--strategies", "sample:0"],
                                  ["predict", "-m", "m.ckpt", "-r", "g.fa", "--chroms", "c", "-o", "o",
                                   "--batch-size", "0"]])
def test_cli_answers_without_torch(argv):
    """Help, version and argument errors (a bad option, a missing input file) return before torch,
    Lightning or matplotlib are imported."""
    code = ("import sys\nfrom dnaseq.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'pytorch_lightning', 'matplotlib', 'h5py', 'pandas') if m in sys.modules)\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parent)
    assert "HEAVY []" in out.stdout, (argv, out.stdout[-500:], out.stderr[-500:])


def test_import_dnaseq_loads_no_torch():
    code = ("import sys, dnaseq\nassert 'torch' not in sys.modules\ng = dnaseq.Genome\n"
            "print(sorted(m for m in ('torch', 'pytorch_lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr[-800:]
    assert out.stdout.strip() == "[]", "dnaseq.Genome should not need torch: " + out.stdout


def test_only_plots_draw():
    """Every figure and logo is made in plots/, so nothing else imports matplotlib or logomaker."""
    drawing = []
    for name, path in modules().items():
        if name.startswith("dnaseq.plots"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            drawing += [f"{name} imports {n}" for n in names if n.split(".")[0] in ("matplotlib", "logomaker")]
    assert not drawing, drawing


def test_subpackages_are_attributes_of_the_package():
    """``dnaseq.models.MODELS`` works after a bare ``import dnaseq``, as it did when the package
    imported everything at once (the lazy table falls back to submodules)."""
    code = "import dnaseq\nprint(sorted(dnaseq.models.MODELS)[:2], dnaseq.interpret.attribute.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=PACKAGE.parent)
    assert out.returncode == 0 and out.stdout.split() == ["['beluga',", "'conv_recurrent']", "attribute"], out
