"""The shipped configs parse, and their models are the published ones."""
import pathlib

import pytest
import yaml

from dnaseq.models import build_model, count_parameters
from dnaseq.training.config import valid_keys

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.startswith("search_")))
def test_config_keys_are_valid(name):
    cfg = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    keys = set(valid_keys())
    for section, values in cfg.items():
        if isinstance(values, dict):
            for k in values:
                assert f"{section}.{k}" in keys, f"{name}.yaml: {section}.{k}"
        else:
            assert section in keys


@pytest.mark.parametrize("name,params", [("deepsea", 52_843_119), ("danq", 46_929_039)])
def test_paper_configs_build_published_models(name, params):
    cfg = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    model = build_model(cfg["model"]["arch"], 1000, 919, **cfg["model"].get("arch_args", {}))
    assert count_parameters(model) == params


def test_model_mapping_options_from_the_command_line_are_typed():
    # jsonargparse leaves `--model.arch_args.pool_sizes 1` the word '1'; the model must get 1
    from dnaseq.training.train import parse_config
    cfg = parse_config(["--config", str(CONFIGS / "quickstart.yaml"), "--model.arch_args.pool_sizes", "1",
                        "--model.arch_args.conv_dropout", "0.0", "--model.arch_args.bidirectional", "false",
                        "--model.arch_args.rnn_type", "gru", "--model.arch_args.conv_filters", "[32, 16]",
                        "--model.scheduler_args.eta_min", "1e-5"])
    args = cfg.model.arch_args
    assert args["pool_sizes"] == 1 and args["conv_dropout"] == 0.0 and args["bidirectional"] is False
    assert args["rnn_type"] == "gru" and args["conv_filters"] == [32, 16]
    assert cfg.model.scheduler_args == {"eta_min": 1e-5}
    assert args["conv_widths"] == 19  # what the file says stays as it is


def test_a_whole_number_of_batches_stays_a_count():
    # jsonargparse reads the word '1' as 1.0, which Lightning takes as "all batches"
    from dnaseq.training.train import parse_config
    cfg = parse_config(["--config", str(CONFIGS / "quickstart.yaml"), "--trainer.limit_val_batches", "1",
                        "--trainer.limit_train_batches=3", "--trainer.limit_test_batches", "0.5"])
    assert cfg.trainer.limit_val_batches == 1 and isinstance(cfg.trainer.limit_val_batches, int)
    assert cfg.trainer.limit_train_batches == 3 and cfg.trainer.limit_test_batches == 0.5


def test_a_whole_number_of_batches_reaches_the_trainer(shipped_dataset, tmp_path):
    from dnaseq.training.train import build_cli
    cli = build_cli(["--config", str(CONFIGS / "quickstart.yaml"), "--data.data", str(shipped_dataset),
                     "--trainer.limit_val_batches", "1", "--trainer.default_root_dir", str(tmp_path)], progress_bars=False)
    assert cli.trainer.limit_val_batches == 1 and isinstance(cli.trainer.limit_val_batches, int)
