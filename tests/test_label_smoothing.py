"""CrossEntropy(label_smoothing=ε): PyTorch's definition, its gradient by finite differences."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.gradcheck import numerical_gradient, relative_error


def logits_and_labels(seed=0, n=6, c=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c)) * 3, rng.integers(0, c, size=n)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_value_and_gradient_equal_pytorchs(reduction, smoothing):
    torch = pytest.importorskip("torch")
    z, y = logits_and_labels()
    loss = sn.CrossEntropy(reduction=reduction, label_smoothing=smoothing)
    value = loss.forward(z, y)
    grad = loss.backward()
    zt = torch.tensor(z, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(zt, torch.tensor(y), reduction=reduction,
                                                 label_smoothing=smoothing)
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-13)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_gradient_by_central_differences(smoothing):
    z, y = logits_and_labels(1)
    z = z / 3                                            # gradients well above the differences' noise
    loss = sn.CrossEntropy(label_smoothing=smoothing)
    loss.forward(z, y)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: sn.CrossEntropy(label_smoothing=smoothing).forward(z, y), z)
    assert np.max(relative_error(analytic, numeric)) < 1e-6


def test_labels_and_one_hot_rows_give_the_same_smoothed_loss():
    z, y = logits_and_labels(2)
    by_label = sn.CrossEntropy(label_smoothing=0.2)
    by_row = sn.CrossEntropy(label_smoothing=0.2)
    assert by_label.forward(z, y) == pytest.approx(by_row.forward(z, np.eye(5)[y]), rel=1e-14)
    np.testing.assert_allclose(by_label.backward(), by_row.backward(), rtol=1e-13, atol=1e-16)


def test_no_smoothing_is_bit_for_bit_the_plain_loss():
    z, y = logits_and_labels(3)
    plain, zero = sn.CrossEntropy(), sn.CrossEntropy(label_smoothing=0.0)
    assert plain.forward(z, y) == zero.forward(z, y)
    np.testing.assert_array_equal(plain.backward(), zero.backward())
    assert repr(zero) == "CrossEntropy(reduction='mean')"
    assert repr(sn.CrossEntropy(label_smoothing=0.1)) == "CrossEntropy(reduction='mean', label_smoothing=0.1)"


@pytest.mark.parametrize("bad, error", [(1.0, ValueError), (-0.1, ValueError), ("0.1", TypeError)])
def test_bad_label_smoothing_is_refused(bad, error):
    with pytest.raises(error, match="label_smoothing"):
        sn.CrossEntropy(label_smoothing=bad)
