"""The ``dnaseq`` command line (top stage; nothing imports it): argument parsing only, one module
per command group, each command calling the Python API. ``dnaseq --help`` imports no torch."""
from .app import main

__all__ = ["main"]
