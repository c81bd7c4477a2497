"""Sequence design: greedy, beam and temperature search over single-base edits.

A trained model scores every allowed single-base edit of the current sequences exactly and in
one batched pass (:mod:`dnaseq.design.scoring`, the local recomputation ``ism`` uses); the
strategies (:mod:`dnaseq.design.search`) choose edits that raise an objective over features
(:mod:`dnaseq.design.objective`) under constraints (:mod:`dnaseq.design.constraints`,
:mod:`dnaseq.design.motifs`). :func:`design` runs them on start sequences through the inference
engine; :func:`run_design` is ``dnaseq design``.

    import dnaseq
    from dnaseq.design import Constraints, design
    model = dnaseq.load_model("best.ckpt")
    result = design(model, codes, "+BEAF_Kc -BEAF_Mbn2", constraints=Constraints(max_edits=5))
    result.designed        # one row per start and strategy: objective, changes, sequence
    result.trajectory      # every visited state, per step, with per-feature probabilities
"""
from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "constraints": ["Constraints", "Rules", "core_mask"],
    "motifs": ["MotifSet", "read_meme"],
    "objective": ["Objective"],
    "run": ["DesignResult", "design", "load_starts", "run_design"],
    "scoring": ["Candidates", "EditScorer", "evaluating"],
    "search": ["STRATEGIES", "SearchResult", "beam", "greedy", "run_search", "sample", "temperatures"],
    "sources": ["Starts", "fasta_starts", "protected_mask", "random_starts", "region_starts"],
})
