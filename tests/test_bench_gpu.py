"""scripts/bench/gpu.py, the one-command GPU measurement, runs its whole code path on the CPU at
tiny sizes, so it cannot rot before a GPU is available to run it for real."""
import json
import subprocess
import sys

from tests.conftest import ROOT


def test_gpu_benchmark_runs_tiny_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench" / "gpu.py"), "--tiny", "--device", "cpu",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = json.loads(out.read_text())
    whats = [r["what"] for r in table["rows"]]
    for part in ("on-disk loader", "train danq 32-true", "train deepsea bf16-mixed", "from disk", "from memory",
                 "score-variants danq", "score-variants deepsea", "ISM danq", "ISM deepsea"):
        assert any(part in w for w in whats), (part, whats)
    assert all(r["value"] > 0 and r["device"].startswith("CPU") for r in table["rows"])
    assert "GPU available" not in proc.stdout  # one table, no Lightning banners
