"""``python -m dnaseq.cli ...`` runs the ``dnaseq`` command."""
import sys

from .app import main

sys.exit(main())
