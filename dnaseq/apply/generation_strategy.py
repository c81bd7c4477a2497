"""How ``dnaseq generate`` picks each base: the strategy specs (``greedy``, ``beam:W``, ``sample:T``,
``topk:K[:T]``) and their parser, apart from the generator so the CLI checks a spec without
importing torch (a bad ``--strategies`` is a usage error before any model loads)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Strategy:
    kind: str  # greedy, beam, sample, topk
    width: int = 1
    temperature: float = 1.0
    top_k: int = 0

    @property
    def name(self) -> str:
        return {"greedy": "greedy", "beam": f"beam{self.width}", "sample": f"sample_T{self.temperature:g}",
                "topk": f"top{self.top_k}_T{self.temperature:g}"}[self.kind]


def parse_strategy(spec: str) -> Strategy:
    """``greedy``, ``beam:W``, ``sample:T`` or ``topk:K[:T]`` -> :class:`Strategy` (one clear error otherwise)."""
    parts = spec.strip().split(":")
    kind, args = parts[0].lower(), parts[1:]
    try:
        if kind == "greedy" and not args:
            return Strategy("greedy")
        if kind == "beam" and len(args) <= 1:
            width = int(args[0]) if args else 5
            if width >= 1:
                return Strategy("beam", width=width)
        if kind == "sample" and len(args) <= 1:
            t = float(args[0]) if args else 1.0
            if t > 0:
                return Strategy("sample", temperature=t)
        if kind == "topk" and 1 <= len(args) <= 2:
            k, t = int(args[0]), float(args[1]) if len(args) > 1 else 1.0
            if 1 <= k <= 4 and t > 0:
                return Strategy("topk", temperature=t, top_k=k)
    except ValueError:
        pass
    raise ValueError(f"strategy {spec!r}: use greedy, beam:W (W >= 1), sample:T (T > 0) or topk:K[:T] (K 1-4)")
