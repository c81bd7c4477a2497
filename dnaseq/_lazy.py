"""Package attributes imported on first use, so importing a package costs nothing until one of
its names is used (``import dnaseq`` loads no torch; ``dnaseq --help`` answers at once)."""
from __future__ import annotations

import importlib
import importlib.util
from typing import Dict, Iterable


def exports(package: str, table: Dict[str, Iterable[str]]):
    """``(__getattr__, __dir__, __all__)`` for ``package`` from ``{module: names}``; each name is
    imported from ``module`` (relative to ``package``: ``engine``, or ``..sequence.motifs``) the first
    time it is looked up, then kept as an attribute. Other names are the package's submodules
    (``dnaseq.models``), imported on first use as ``import dnaseq.models`` would."""
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            if importlib.util.find_spec(f"{package}.{name}") is not None:  # a subpackage or module
                return importlib.import_module(f"{package}.{name}")
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module if module.startswith(".") else "." + module, package), name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip this function
        return value

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(where))

    return __getattr__, __dir__, list(where)
