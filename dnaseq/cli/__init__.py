"""The ``dnaseq`` command line (top stage; nothing imports it): argument parsing only, one module
per command group, each command calling the Python API. ``dnaseq --help`` imports no torch: each
command imports its implementation (which imports torch, numpy, h5py) inside its handler, so the
imports inside functions in this package are all there for start-up time."""
from .app import main

__all__ = ["main"]
