"""The shipped configs parse, and their models are the published ones."""
import pathlib

import pytest
import yaml

from dnaseq.models import build_model, count_parameters
from dnaseq.train import valid_keys

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["deepsea", "danq", "quickstart"])
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
