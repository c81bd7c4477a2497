"""The one reader of inputs into model windows (dnaseq.sequence.windows): its rules on a small
FASTA whose bases say where they are, so every window can be checked base by base."""
import numpy as np
import pytest

from dnaseq import Genome, decode
from dnaseq.sequence.genome import write_fasta
from dnaseq.sequence.windows import (
    bins,
    chromosome_blocks,
    fasta_blocks,
    fasta_input,
    fasta_windows,
    parse_region,
    region_blocks,
    region_input,
    window_start,
)

RNG = np.random.default_rng(5)
CHR = "".join(RNG.choice(list("ACGT"), 95))
GAP = "N" * 40  # an assembly gap: its bins are left out


@pytest.fixture
def genome(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"c1": CHR, "c2": CHR[:30] + GAP + CHR[30:60]})
    with Genome(str(path)) as g:
        yield g


def test_centred_rule_and_padding(genome, tmp_path):
    assert window_start(10, 20, 10) == 10 and window_start(10, 21, 10) == 10 and window_start(0, 2, 10) == -4
    names, codes, positions, starts = region_input(genome, "c1:11-20", 10)
    assert names == ["c1:11-20"] and starts == [10] and decode(codes[0]) == CHR[10:20]
    assert list(positions) == list(range(10))
    names, codes, positions, starts = region_input(genome, "c1:1-2", 10)  # runs off the start: N
    assert starts == [-4] and decode(codes[0]) == "NNNN" + CHR[:6] and list(positions) == [4, 5]
    with pytest.raises(ValueError, match="spans 20 bp, more than the model's 10 bp"):
        region_input(genome, "c1:1-20", 10)
    with pytest.raises(ValueError, match="is not chrom:start-end"):
        parse_region("c1:20")


def test_tiling_leaves_out_gap_bins_and_pads_the_ends(genome):
    assert [list(a) for a in bins(25, 10)] == [[0, 10, 20], [10, 20, 25]]
    blocks = list(chromosome_blocks(genome, "c2", 20, 10, block=4))
    got = [b() for b in blocks]
    windows = [w for w, _ in got]
    skipped = sum(n for _, n in got)
    assert skipped == 4  # bins 30-40, 40-50, 50-60, 60-70 lie in the 40 bp gap
    names = sum((w.name for w in windows), [])
    assert names == ["c2:1-10", "c2:11-20", "c2:21-30", "c2:71-80", "c2:81-90", "c2:91-100"]
    first = windows[0]
    assert first.start[0] == -5 and first.padded[0] and decode(first.codes[0]) == "N" * 5 + CHR[:15]
    assert all(w.codes.shape[1] == 20 for w in windows)


def test_a_stride_wider_than_the_window_predicts_each_bin_from_its_centre(genome):
    """``predict --stride 5000`` with a 1000 bp model crashed (IndexError): each bin is the
    window centred on it; a bin is a gap when the part the window sees is all N."""
    got = [b() for b in chromosome_blocks(genome, "c2", 10, 30, block=8)]
    windows = [w for w, _ in got]
    names = sum((w.name for w in windows), [])
    assert names == ["c2:1-30", "c2:61-90", "c2:91-100"]  # 31-60: its window, 41-50, is all gap
    assert sum(n for _, n in got) == 1
    assert decode(windows[0].codes[0]) == CHR[10:20] and list(windows[0].start) == [10, 70, 90]


def test_region_bed_windows_centred_or_tiled(genome, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("c1\t10\t20\tx\nc1\t40\t61\ty\n")
    (w, _), = [b() for b in region_blocks(genome, str(bed), 10, None, block=8)]
    assert w.name == ["x", "y"] and list(w.start) == [10, 45]  # the BED's names
    assert decode(w.codes[1]) == CHR[45:55]
    bed.write_text("c1\t10\t20\nc1\t40\t61\t.\n")  # no name: the coordinates
    (w, _), = [b() for b in region_blocks(genome, str(bed), 10, None, block=8)]
    assert w.name == ["c1:11-20", "c1:41-61"]
    tiled = [b()[0] for b in region_blocks(genome, str(bed), 10, 10, block=2)]
    assert sum((t.name for t in tiled), []) == ["c1:11-20", "c1:41-50", "c1:51-60", "c1:61-61"]


def test_fasta_exact_padded_and_tiled(tmp_path):
    fa = write_fasta(tmp_path / "s.fa", {"a": CHR[:10], "b": CHR[:6]})
    with pytest.raises(ValueError, match="sequence 'b' has 6 bp but the model takes 10 bp"):
        fasta_input(str(fa), 10)  # exact: ism, attribute, design
    padded = [b()[0] for b in fasta_blocks(str(fa), 10, None, block=4)]  # padded: predict
    assert decode(padded[1].codes[0]) == "NN" + CHR[:6] + "NN" and padded[1].padded[0]
    long = write_fasta(tmp_path / "l.fa", {"l": CHR})
    with pytest.raises(ValueError, match="pass --stride to tile it"):
        list(fasta_blocks(str(long), 10, None, block=4))
    tiled = [b()[0] for b in fasta_blocks(str(long), 10, 50, block=4)]
    assert tiled[0].name == ["l:1-50", "l:51-95"]
    exact = fasta_windows(str(write_fasta(tmp_path / "e.fa", {"a": CHR[:10], "c": CHR[5:15]})), 10)
    assert exact.name == ["a", "c"] and decode(exact.codes[1]) == CHR[5:15]
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    with pytest.raises(ValueError):
        fasta_windows(str(empty), 10)
