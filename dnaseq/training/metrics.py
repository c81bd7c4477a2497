"""Ranking metrics of one feature's predictions, shared by validation during a search
(:mod:`dnaseq.training.tune`) and by evaluation (:mod:`dnaseq.apply.evaluate`)."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def roc_and_pr_auc(y: np.ndarray, p: np.ndarray):
    """(ROC AUC, average precision) of one feature, equal to scikit-learn's ``roc_auc_score``
    and ``average_precision_score``.

    Both come from one threshold sweep (``confusion_matrix_at_thresholds``, scikit-learn >=
    1.8): the two scorers would each sort the 455k predictions of a DeepSEA-sized test set
    again, which doubles evaluation time.
    """
    if not hasattr(skm, "confusion_matrix_at_thresholds"):
        return skm.roc_auc_score(y, p), skm.average_precision_score(y, p)
    _, fps, _, tps, _ = skm.confusion_matrix_at_thresholds(y, p, pos_label=1)
    roc = skm.auc(np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]])
    recall = tps / tps[-1]
    precision = tps / (tps + fps)
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return float(roc), ap
