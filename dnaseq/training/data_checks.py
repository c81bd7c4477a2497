"""What the data of a ``dnaseq train`` run must hold before training starts: a training split with
windows, a validation split with windows, and (a warning otherwise) a validated feature with both
classes. Each refusal names the file and the option or rebuild that fixes it."""
from __future__ import annotations

import logging
import os

from ..data.dataset import available_splits, open_split, read_info


def check_train_split(dm) -> None:
    """Stop before training, naming the file, when the training split is missing or empty."""
    if getattr(dm, "language_model", False):
        dm.source("train")  # windows of a reference: an empty split stops here, saying which rule emptied it
        return
    splits, data = getattr(dm, "splits", None), str(getattr(dm, "data", "") or "")
    if not isinstance(splits, dict) or "train" not in splits or not data:
        return  # not dnaseq's data module
    if os.path.isdir(data) or data.endswith(".mat"):
        return  # DeepSEA bundles: their train.mat is read lazily, and a lone .mat names no split

    split, have = splits["train"], available_splits(dm.data)
    if split not in have:
        raise ValueError(f"{dm.data} has no {split!r} split (it has {', '.join(have) or 'none'}): nothing to "
                         f"train on; set --data.train_split or rebuild the dataset")
    if _split_windows(dm.data, split) == 0:
        raise ValueError(f"{dm.data}: the {split!r} split has 0 windows: nothing to train on (every chromosome "
                         f"went to validation or test?); rebuild the dataset with fewer --valid-chroms / "
                         f"--test-chroms, or set --data.train_split")
    _check_valid_split(dm, have)


def _split_windows(data: str, split: str) -> int:
    src = open_split(data, split, in_memory=False)
    try:
        return len(src)
    finally:
        src.close()


def _check_valid_split(dm, have) -> None:
    """Stop before training when the validation split has no windows (Lightning then fails after
    the first epoch); warn when no feature has both positive and negative windows in it
    (valid_auroc is NaN: the best checkpoint and early stopping have nothing to go by)."""
    split = dm.splits.get("valid")
    if not split or split not in have:
        return
    fix = ("rebuild the dataset with a larger --valid-fraction or other --valid-chroms, or set "
           "--data.val_split")
    summary = read_info(dm.data).attrs.get("summary") or {}
    windows = _split_windows(dm.data, split)
    if windows == 0:
        raise ValueError(f"{dm.data}: the {split!r} split has 0 windows: nothing to validate on; {fix}")
    positives = (summary.get("positives") or {}).get(split)
    if positives is not None and not any(0 < p < windows for p in positives):  # legal, but say what it means
        logging.getLogger("dnaseq").warning(
            f"{dm.data}: no feature has both positive and negative windows in the {split!r} split ({windows:,} "
            f"windows): valid_auroc is undefined (NaN), so early stopping ends the run after its first epoch "
            f"and best.ckpt is that epoch; for a model judged on validation, {fix}")
