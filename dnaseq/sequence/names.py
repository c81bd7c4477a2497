"""Chromosome naming schemes: ``chr1`` in UCSC files is ``1`` in Ensembl ones, ``chrM`` is ``MT``.

One rule, used by the reference (:class:`~dnaseq.sequence.genome.Genome`) and by interval sets, so
a BED in one scheme and a FASTA in the other meet wherever they are used."""
from __future__ import annotations

from typing import List

# Pairs of names that mean the same sequence in different naming schemes.
_SPECIAL_ALIASES = {"chrM": ["MT", "M", "chrMT"], "MT": ["chrM", "M"], "M": ["chrM", "MT"]}


def candidate_names(name: str) -> List[str]:
    """Names under which ``name`` may appear in another naming scheme (chr1 <-> 1, chrM <-> MT),
    ``name`` itself first."""
    names = [name]
    if name.lower().startswith("chr"):
        names.append(name[3:])
    else:
        names.append("chr" + name)
    for n in list(names):
        names.extend(_SPECIAL_ALIASES.get(n, []))
    seen, out = set(), []
    for n in names:
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out
