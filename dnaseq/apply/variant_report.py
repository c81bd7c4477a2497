"""The report of a ``score-variants`` run: how many rows got each status, the warnings worth a
user's attention (also logged on the ``dnaseq`` logger), and ``PREFIX.summary.json``, written
last so that its presence means the outputs beside it are complete."""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional

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
    ref_check: Dict[str, int] = field(default_factory=dict)  # rows whose REF was compared / differs

    def format(self) -> str:
        lines = [f"{self.rows:,} output rows (one per ALT of each record):"]
        for status, n in self.statuses.most_common():
            lines.append(f"  {status:<28}{n:>10,}")
        if self.ref_check.get("differ"):
            lines.append(f"  REF differs from the reference in {self.ref_check['differ']:,} of "
                         f"{self.ref_check['compared']:,} rows compared (column ref_match)")
        return "\n".join(lines)

    def as_dict(self) -> Dict:
        return {"rows": self.rows, "statuses": dict(self.statuses), "ref_check": self.ref_check,
                "warnings": self.warnings, "meta": self.meta, "outputs": self.outputs}


def run_warnings(report: VcfReport, statuses: Counter, rows: int, ref_check: Optional[Dict[str, int]] = None,
                 ref_policy: str = "genome") -> List[str]:
    """Warnings for the summary (also logged on the ``dnaseq`` logger)."""
    warnings = report.warnings()
    differ, compared = (ref_check or {}).get("differ", 0), (ref_check or {}).get("compared", 0)
    if differ:
        what = {"genome": "the rows scored use the genome's REF", "vcf": "the rows scored use the VCF's REF",
                "skip": "those rows are not scored (--ref-policy skip)"}[ref_policy]
        warnings.append(f"REF differs from the reference in {differ:,} of {compared:,} rows compared "
                        f"({differ / compared:.1%}): {what}; see columns ref_match and note. Many differences "
                        f"usually mean another genome build or a FASTA that is not the VCF's reference")
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
