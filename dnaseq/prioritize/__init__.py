"""Stage 8, which variants matter: backgrounds of variant effects (``dnaseq background``; the
e-values they give ``score-variants`` are :mod:`dnaseq.apply.calibration`) and the
functional-variant classifier over effect profiles (``dnaseq prioritize``)."""
