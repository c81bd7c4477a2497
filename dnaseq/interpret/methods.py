"""The attribution methods of ``dnaseq attribute`` (no torch here: the command lists them before torch loads)."""

METHODS = ("ism", "saliency", "input-x-gradient", "integrated-gradients", "deeplift-shap")
