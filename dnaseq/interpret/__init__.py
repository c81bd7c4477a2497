"""What a model learned: first-layer filter motifs matched to a database, filter influence,
per-base attributions and (optionally) TF-MoDISco patterns.

* :func:`filter_motifs` -- ``dnaseq motifs``: filters -> PFMs -> TOMTOM -> influence
  (:mod:`.filters`, :mod:`.tomtom`, :mod:`.influence`, report in :mod:`.motifs`);
* :func:`attribute` -- ``dnaseq attribute``: ism / saliency / input-x-gradient /
  integrated-gradients / deeplift-shap (:mod:`.attribute`, files in :mod:`.attribute_run`);
* :func:`discover_patterns` -- modisco-lite on attributions (:mod:`.modisco`);
* motif files: :func:`read_motifs` (MEME, JASPAR), :func:`write_meme`.

Optional dependencies, imported only when used: memelite (TOMTOM), captum (gradient
attributions), modisco-lite (pattern discovery), logomaker (logos, in :mod:`dnaseq.plots`).
"""
from .attribute import METHODS, attribute, contributions, dinucleotide_shuffle
from .attribute_run import AttributionResult, run_attribute
from .filters import FilterPFMs, filter_pfms, first_conv
from .influence import filter_influence
from .modisco import Patterns, discover_patterns
from .motif_db import Motif, information_content, read_motifs, reverse_complement, write_meme
from .motifs import FilterMotifsResult, filter_motifs, load_windows, write_motif_report
from .tomtom import TomtomResult, benjamini_hochberg, tomtom

__all__ = ["METHODS", "attribute", "contributions", "dinucleotide_shuffle", "AttributionResult", "run_attribute",
           "FilterPFMs", "filter_pfms", "first_conv", "filter_influence", "Patterns", "discover_patterns",
           "Motif", "information_content", "read_motifs", "reverse_complement", "write_meme",
           "FilterMotifsResult", "filter_motifs", "load_windows", "write_motif_report", "TomtomResult",
           "benjamini_hochberg", "tomtom"]
