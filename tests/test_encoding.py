import numpy as np
import pytest
import torch

import dnaseq
from dnaseq.sequence.encoding import N_CODE, InvalidBaseError


def test_codes_and_decode_round_trip():
    seq = "ACGTTGCAAN"
    codes = dnaseq.encode(seq)
    assert codes.dtype == np.uint8
    assert codes.tolist() == [0, 1, 2, 3, 3, 2, 1, 0, 0, 4]
    assert dnaseq.decode(codes) == seq


def test_inputs_str_bytes_array_and_list():
    a = dnaseq.encode("ACGT")
    assert np.array_equal(dnaseq.encode(b"ACGT"), a)
    assert np.array_equal(dnaseq.encode(np.frombuffer(b"ACGT", np.uint8)), a)
    assert dnaseq.encode(["ACG", "TTT"]).shape == (2, 3)
    with pytest.raises(ValueError, match="equal lengths"):
        dnaseq.encode(["AC", "T"])


def test_lowercase_is_same_base_and_iupac_is_n():
    assert np.array_equal(dnaseq.encode("acgtn"), dnaseq.encode("ACGTN"))
    iupac = "RYSWKMBDHVN" + "rYsWkmbdhvn"
    assert (dnaseq.encode(iupac) == N_CODE).all()
    assert dnaseq.encode("U").tolist() == [3]


def test_invalid_character_names_position():
    with pytest.raises(InvalidBaseError, match=r"'-' at position 3"):
        dnaseq.encode("ACG-T")


def test_one_hot_shape_order_and_fill():
    x = dnaseq.one_hot("ACGTN")
    assert x.shape == (1, 4, 5) and x.dtype == torch.float32
    expected = torch.tensor([[1, 0, 0, 0, .25], [0, 1, 0, 0, .25], [0, 0, 1, 0, .25], [0, 0, 0, 1, .25]])
    assert torch.equal(x[0], expected)
    z = dnaseq.one_hot("ACGTN", fill=0.0)
    assert torch.equal(z[0, :, 4], torch.zeros(4))
    # lowercase / soft-masked gives the same one-hot
    assert torch.equal(dnaseq.one_hot("acgtr"), x)


def test_one_hot_cpu_fast_path_matches_generic_path():
    codes = np.random.default_rng(0).integers(0, 5, size=(7, 301)).astype(np.uint8)
    fast = dnaseq.one_hot(codes)
    generic = dnaseq.one_hot(torch.from_numpy(codes), dtype=torch.float64).float()
    assert torch.equal(fast, generic)
    assert fast.sum(dim=1)[torch.from_numpy(codes) < 4].eq(1).all()


def test_one_hot_round_trip_to_codes():
    codes = np.random.default_rng(1).integers(0, 5, size=(3, 50)).astype(np.uint8)
    assert np.array_equal(dnaseq.codes_from_one_hot(dnaseq.one_hot(codes)), codes)
    assert np.array_equal(dnaseq.codes_from_one_hot(dnaseq.one_hot(codes, fill=0)), codes)


def test_reverse_complement_codes_and_strings():
    assert dnaseq.decode(dnaseq.reverse_complement(dnaseq.encode("AACGTN"))) == "NACGTT"
    codes = np.random.default_rng(2).integers(0, 5, size=(4, 100)).astype(np.uint8)
    assert np.array_equal(dnaseq.reverse_complement(dnaseq.reverse_complement(codes)), codes)


def test_reverse_complement_one_hot_matches_codes():
    codes = np.random.default_rng(3).integers(0, 5, size=(4, 100)).astype(np.uint8)
    x = dnaseq.one_hot(codes)
    rc = dnaseq.reverse_complement_one_hot(x)
    assert torch.equal(rc, dnaseq.one_hot(dnaseq.reverse_complement(codes)))
    assert torch.equal(dnaseq.reverse_complement_one_hot(rc), x)
