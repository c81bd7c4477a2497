"""``dnaseq tune``: argument parsing only; the work is :func:`dnaseq.training.tune.tune`."""
from __future__ import annotations

import argparse
import logging
import warnings

import yaml

from .common import positive_float, positive_int


def _override(text: str):
    """``trainer.max_epochs=2`` -> ("trainer.max_epochs", 2); the value is read as YAML."""

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE such as trainer.max_epochs=2, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else value
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"the value of {key.strip()} is not valid YAML: {value!r}") from None
    return key.strip(), parsed


def _quiet_lightning() -> None:
    """Trials report through Optuna's lines and trials.tsv: Lightning's per-run notices
    (devices, seeds, advertising, a run folder that already holds its config) would bury them."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (".*LeafSpec.*", ".*args parameter is intended.*", ".*exists and is not empty.*",
                    ".*smaller than the logging interval.*"):
        warnings.filterwarnings("ignore", message=message)


def _one_line_failures(record: logging.LogRecord) -> bool:
    """Optuna's "Trial N failed ... because of the following error: X" without the traceback under
    it (the error is in the line and in trials.tsv's note; --verbose keeps the traceback)."""
    record.exc_info, record.exc_text = None, None
    return True


def _print_summary(result, out: str) -> None:
    table = result.table
    counts = table.state.value_counts()
    states = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("complete", "pruned", "fail"))
    print(f"{len(table)} trials ({states}) in {table.duration_s.sum():.0f} s of training")
    best = table.loc[table.value.idxmax()]
    print(f"best: trial {int(best.number)}, value {best.value:.4f} ({best.run_dir})")
    for key in table.columns[3:-4]:
        print(f"  {key} = {best[key]}")
    print(f"wrote {out}/trials.tsv, {result.best_config}, {out}/trials.png")
    print(f"train it: dnaseq train --config {result.best_config}")


def register(sub) -> None:
    """Add the ``tune`` subcommand to the argparse subparsers ``sub`` (devices and precision come
    from the config's trainer section, or ``--set trainer.accelerator=gpu``)."""

    def handler(args) -> int:
        from ..training.train import quiet_lightning_tips
        from ..training.tune import tune

        quiet_lightning_tips()
        if not args.verbose:  # after the import: Lightning sets its loggers' levels when imported
            _quiet_lightning()
            logging.getLogger("optuna.study._optimize").addFilter(_one_line_failures)

        result = tune(args.config, args.search, args.trials, args.out, metric=args.metric, seed=args.seed,
                      timeout=args.timeout, overrides=dict(args.overrides), prune=not args.no_prune)
        _print_summary(result, args.out)
        return 0

    t = sub.add_parser("tune", help="hyperparameter search (Optuna) over a train config, scored on the "
                                    "validation split: trials.tsv, best_config.yaml",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Each trial is a `dnaseq train` run of --config with values drawn from "
                                   "--search (a YAML file: dotted config keys -> {type: float|int|categorical, "
                                   "...}; see dnaseq.training.tune), scored by its best validation mean ROC or PR AUC. "
                                   "The test split is never read.")
    t.add_argument("--config", "-c", required=True, help="the `dnaseq train` config to start from")
    t.add_argument("--search", "-s", required=True, help="search space YAML, e.g. configs/search_quickstart.yaml")
    t.add_argument("--trials", "-n", type=positive_int, default=20, help="number of trials")
    t.add_argument("--out", "-o", required=True, help="output folder: trials.tsv, best_config.yaml, trials.png, "
                                                       "runs/ (one run folder per trial)")
    t.add_argument("--metric", choices=["auroc", "auprc", "prlift"], default="auroc",
                   help="validation mean ROC AUC, mean PR AUC, or mean log2(PR AUC / positive fraction), "
                        "where rare features weigh as much as common ones (best over each trial's epochs)")
    t.add_argument("--seed", type=int, default=0, help="sampler seed: the same seed draws the same trials")
    t.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="start no trial after this many seconds")
    t.add_argument("--set", dest="overrides", action="append", type=_override, default=[], metavar="KEY=VALUE",
                   help="set a config key in every trial but not in best_config.yaml (repeatable), e.g. "
                        "--set trainer.max_epochs=3")
    t.add_argument("--no-prune", action="store_true", help="train every trial to the end (no median pruning)")
    t.set_defaults(func=handler)
