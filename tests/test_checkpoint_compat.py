"""Checkpoints written by dnaseq 0.1.0 keep loading and predicting the same numbers.

``tests/data/checkpoints/v0_1_0_conv_gru.ckpt`` was written by ``scripts/make_v010_checkpoint.py``
at commit 3cccc2b (0.1.0, before the package was laid out by stage), with the probabilities that
code gave for three sequences (with Ns) on both strand settings."""
import json
from pathlib import Path

import numpy as np

import dnaseq

HERE = Path(__file__).parent / "data" / "checkpoints"


def test_v010_checkpoint_loads_and_predicts_as_it_did():
    expected = json.loads((HERE / "v0_1_0_conv_gru.expected.json").read_text())
    model = dnaseq.load_model(str(HERE / "v0_1_0_conv_gru.ckpt"))
    assert model.feature_names == ["a", "b", "c"] and model.seq_len == 100
    assert model.strand_mode() == "both"  # the checkpoint was validated with both strands
    got = model.predict_proba(expected["sequences"])
    np.testing.assert_allclose(got, expected["probs_as_trained"], atol=1e-6)
    fwd = model.predict_proba(expected["sequences"], strand="forward")
    np.testing.assert_allclose(fwd, expected["probs_forward"], atol=1e-6)
    assert not np.allclose(fwd, got)  # the two strand settings differ, so both are checked


def test_old_strand_spellings_are_accepted_with_a_warning():
    """One strand vocabulary (forward / both / as-trained); the 0.1 spellings still work, said aloud."""
    import pytest

    from dnaseq.settings import resolve_strand

    with pytest.warns(FutureWarning, match="rc_average=True is the 0.1 spelling; use strand='both'"):
        model = dnaseq.SequenceModel("conv_recurrent", {"conv_filters": [4], "conv_widths": 5, "pool_sizes": 4,
                                                        "rnn_type": "gru", "rnn_hidden": 4, "head_hidden": []},
                                     seq_len=40, n_features=2, rc_average=True)
    assert model.trained_strand == "both" and model.hparams.strand == "both" and "rc_average" not in model.hparams
    with pytest.warns(FutureWarning, match="strand 'auto' is the 0.1 spelling; use 'as-trained'"):
        assert resolve_strand("auto", True) == "both"
    with pytest.raises(ValueError, match="unknown strand .as-trained."):
        dnaseq.SequenceModel("deepsea", seq_len=1000, n_features=2, strand="as-trained")
