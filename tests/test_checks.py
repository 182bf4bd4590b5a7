"""The shared argument checks of scratchnn._checks (most are also exercised through the public
API in test_bad_inputs.py); here the finiteness test, whose fast path must never miss a NaN
or an infinity."""

import numpy as np
import pytest

from scratchnn._checks import _all_finite, as_float_array


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", [(7,), (5, 4), (3, 2, 4, 4), (1, 9)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_every_non_finite_entry_is_found_wherever_it_is(dtype, shape, bad):
    rng = np.random.default_rng(0)
    array = rng.normal(size=shape).astype(dtype)
    assert _all_finite(array)
    for flat_index in range(array.size):
        spoiled = array.copy()
        spoiled.flat[flat_index] = bad
        assert not _all_finite(spoiled)
        assert not _all_finite(spoiled.T)                 # a non-contiguous view


def test_opposite_infinities_in_one_row_are_found():
    array = np.zeros((3, 4), np.float32)
    array[1, 0], array[1, 3] = np.inf, -np.inf            # their sum is NaN, still not finite
    assert not _all_finite(array)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_finite_values_whose_sum_overflows_are_finite(dtype):
    array = np.full((4, 6), np.finfo(dtype).max, dtype)
    assert _all_finite(array)
    assert as_float_array("X", array, dtype) is array


def test_the_error_names_the_first_bad_entry():
    array = np.ones((4, 3), np.float32)
    array[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first at index \(2, 1\), value nan\)"):
        as_float_array("X", array, np.float32)
