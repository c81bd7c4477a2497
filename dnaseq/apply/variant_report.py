"""The report of a ``score-variants`` run: how many rows got each status, the warnings worth a
user's attention (also logged on the ``dnaseq`` logger), and ``PREFIX.summary.json``, written
last so that its presence means the outputs beside it are complete."""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List

from ..sequence.vcf import VcfReport

log = logging.getLogger("dnaseq")


@dataclass
class ScoringSummary:
    """What a run did: output rows per status, the output files, the run's settings, warnings."""
    statuses: Counter
    rows: int
    outputs: List[str]
    meta: Dict
    warnings: List[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"{self.rows:,} output rows (one per ALT of each record):"]
        for status, n in self.statuses.most_common():
            lines.append(f"  {status:<28}{n:>10,}")
        return "\n".join(lines)

    def as_dict(self) -> Dict:
        return {"rows": self.rows, "statuses": dict(self.statuses), "warnings": self.warnings, "meta": self.meta,
                "outputs": self.outputs}


def run_warnings(report: VcfReport, statuses: Counter, rows: int) -> List[str]:
    """Warnings for the summary (also logged on the ``dnaseq`` logger)."""
    warnings = report.warnings()
    if rows and not statuses.get("scored"):
        top = ", ".join(f"{n:,} {s}" for s, n in statuses.most_common(3))
        warnings.append(f"no variant was scored ({top})")
    for w in warnings:
        log.warning(w)
    return warnings


def write_summary(writer, out: str, summary: ScoringSummary) -> None:
    """Write ``{out}.summary.json`` and move the finished outputs to their names (``.partial``
    files until now); on failure nothing that looks complete is left."""
    path = f"{out}.summary.json"
    try:
        with open(path + ".partial", "w", encoding="utf-8") as fh:
            json.dump(summary.as_dict(), fh, indent=1)
        writer.commit()
        os.replace(path + ".partial", path)
    except BaseException:
        writer.discard()
        if os.path.exists(path + ".partial"):
            os.remove(path + ".partial")
        raise
