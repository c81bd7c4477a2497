"""How tests/data/checkpoints/v0_1_0_conv_gru.ckpt and its expected outputs were made: run at commit 3cccc2b (0.1.0,
the layout before the stage folders), so the file is a checkpoint of the old code for tests/test_checkpoint_compat.py."""
import json

import numpy as np
import pytorch_lightning as pl
import torch
from dnaseq.task import SequenceModel

torch.manual_seed(0)
m = SequenceModel(arch="conv_recurrent", seq_len=100, n_features=3,
                  arch_args=dict(conv_filters=[8], conv_widths=9, pool_sizes=4, rnn_type="gru", rnn_hidden=4,
                                 head_hidden=[], kmer_k=3),
                  feature_names=["a", "b", "c"], feature_groups=["TF", "TF", "DNase"], rc_average=True, fill=0.25)
t = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=0)
t.strategy.connect(m)
t.save_checkpoint("tests/data/checkpoints/v0_1_0_conv_gru.ckpt")
from dnaseq import load_model

m2 = load_model("tests/data/checkpoints/v0_1_0_conv_gru.ckpt")
rng = np.random.default_rng(0)
seqs = ["".join(rng.choice(list("ACGTN"), 100, p=[.24,.24,.24,.24,.04])) for _ in range(3)]
p = m2.predict_proba(seqs)
json.dump({"sequences": seqs, "probs_as_trained": p.tolist(), "probs_forward": m2.predict_proba(seqs, strand="forward").tolist()},
          open("tests/data/checkpoints/v0_1_0_conv_gru.expected.json", "w"), indent=1)
print(p)
