"""What a model learned: first-layer filter motifs matched to a database, filter influence,
per-base attributions and (optionally) TF-MoDISco patterns.

* :func:`filter_motifs` -- ``dnaseq motifs``: filters -> PFMs -> TOMTOM -> influence
  (:mod:`.filters`, :mod:`.motif_match`, :mod:`.influence`, report in :mod:`.motifs`);
* :func:`attribute` -- ``dnaseq attribute``: ism / saliency / input-x-gradient /
  integrated-gradients / deeplift-shap (:mod:`.attributions`, files in :mod:`.attribute_run`);
* :func:`discover_patterns` -- modisco-lite on attributions (:mod:`.modisco`);
* motif files: :func:`read_motifs` (MEME, JASPAR), :func:`write_meme`.

Optional dependencies, imported only when used: memelite (TOMTOM), captum (gradient
attributions), modisco-lite (pattern discovery), logomaker (logos, in :mod:`dnaseq.plots.logos`).
"""
from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "methods": ["METHODS"],
    "attributions": ["attribute", "contributions", "dinucleotide_shuffle"],
    "attribute_run": ["AttributionResult", "run_attribute"],
    "filters": ["FilterPFMs", "filter_pfms", "first_conv"],
    "influence": ["filter_influence"],
    "modisco": ["Patterns", "discover_patterns"],
    "..sequence.motifs": ["Motif", "information_content", "read_motifs", "reverse_complement", "write_meme"],
    "motifs": ["FilterMotifsResult", "filter_motifs", "load_windows", "write_motif_report"],
    "motif_match": ["TomtomResult", "benjamini_hochberg", "tomtom"],
})
