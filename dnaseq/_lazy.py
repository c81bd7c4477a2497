"""The public API's two helpers. :func:`exports`: package attributes imported on first use, so
importing a package costs nothing until one of its names is used (``import dnaseq`` loads no torch;
``dnaseq --help`` answers at once). :func:`api`: the arguments of a public function taken the way
users pass them (``pathlib.Path`` for a path, one name for a list of names)."""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import re
from typing import Dict, Iterable

_NAMES = re.compile(r"^(Optional\[)?(Sequence|List|Iterable|Tuple)\[str(, \.\.\.)?\]\]?$")


def _plain(value):
    """A path object as its text; inside a list or tuple too (peak files, a list of paths)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, os.PathLike) for v in value):
        return type(value)(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
    return value


def api(func):
    """Decorator for a public function: every ``os.PathLike`` argument (alone or in a list) is
    passed on as ``str``, and a lone ``str`` given for a parameter annotated as a sequence of
    names (``Sequence[str]``: chromosomes, features, score types) as a one-item list, not as
    its letters. Nothing else is touched (models, arrays and tensors pass as they are)."""
    signature = inspect.signature(func)
    names = {p.name for p in signature.parameters.values()
             if isinstance(p.annotation, str) and _NAMES.match(p.annotation.replace(" ", "").replace(",...", ", ..."))}

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                bound.arguments[name] = {k: _plain(v) for k, v in value.items()}
                continue
            value = _plain(value)
            bound.arguments[name] = [value] if name in names and isinstance(value, str) else value
        return func(*bound.args, **bound.kwargs)
    return wrapper


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
