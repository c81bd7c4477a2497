"""One settings object: how every API function and command decides its run options."""
import pytest

from dnaseq.settings import BATCH_SIZES, DEFAULT_FILL, STRANDS, RunOptions, resolve_strand


def test_for_command_defaults_and_shortcuts():
    for command, size in BATCH_SIZES.items():
        assert RunOptions.for_command(command).batch_size == size
    base = RunOptions(accelerator="cpu", precision="bf16-mixed", batch_size=7, progress=True)
    assert RunOptions.for_command("evaluate", base) is base  # nothing given on top: the caller's object
    got = RunOptions.for_command("evaluate", base, batch_size=3, progress=False)
    assert (got.batch_size, got.progress, got.precision, got.accelerator) == (3, False, "bf16-mixed", "cpu")
    assert base.batch_size == 7  # left as found
    placed = RunOptions.for_command("ism", device="cuda:1")
    assert (placed.accelerator, placed.devices, placed.batch_size) == ("gpu", [1], BATCH_SIZES["ism"])
    assert RunOptions.for_command("predict", default_progress=True).progress


def test_one_strand_vocabulary_and_fill():
    assert STRANDS == ("as-trained", "forward", "both") and DEFAULT_FILL == 0.25
    assert resolve_strand(None, True) == "both" and resolve_strand("As_Trained", False) == "forward"
    assert resolve_strand("both", False) == "both"


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"batch_size": -4}, {"batch_size": 2.5}, {"num_nodes": 0},
                                 {"num_workers": -1}, {"batch_size": True}])
def test_a_size_that_cannot_run_is_refused_by_name(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"{name} must be a whole number"):
        RunOptions(**bad)
    if name == "batch_size":  # the API functions' shortcut too (2.5 is not taken as 2)
        with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got"):
            RunOptions.for_command("predict", batch_size=bad["batch_size"])
