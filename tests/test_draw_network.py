"""draw_network: the DOT text says what the weights and gradients are; dot and matplotlib
render it; bad input is refused before any work."""

import re
import shutil

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.plot.network import NEGATIVE, POSITIVE

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EDGE = re.compile(r'^  (c\d+_u\d+) -> (c\d+_u\d+) \[color="(#\w+)", penwidth=([\d.]+), label="w=([^\\]+)\\ndL/dw=([^"]+)"',
                  re.MULTILINE)


def blog_network(seed=0):
    return sn.Sequential(sn.Dense(2, 2, init="uniform"), sn.Sigmoid(), sn.Dense(2, 1, init="uniform"), sn.Sigmoid(),
                         seed=np.random.RandomState(seed), dtype=np.float64)


def test_edges_show_each_weight_its_sign_its_size_and_its_gradient():
    net = blog_network()
    net.layers[0].weight.value[0, 1] = -0.3                        # one negative weight
    before = {k: v.copy() for k, v in net.state_dict().items()}
    grad_before = net.flat_parameter.grad.copy()
    dot = sn.plot.draw_network(net, X, Y)
    # the gradients, computed here by the network's own forward and backward
    loss = sn.MSE()
    loss.forward(net.forward(X), Y)
    net.zero_grad()
    net.backward(loss.backward())
    edges = EDGE.findall(dot)
    assert len(edges) == 4 + 2
    for layer, tail_column in ((0, 0), (2, 1)):
        weight, grad = net.layers[layer].weight.value, net.layers[layer].weight.grad
        for (i, j), w in np.ndenumerate(weight):
            tail, head = f"c{tail_column}_u{i}", f"c{tail_column + 1}_u{j}"
            (colour, width, shown_w, shown_grad), = [e[2:] for e in edges if e[:2] == (tail, head)]
            assert colour == (POSITIVE if w > 0 else NEGATIVE)
            assert float(width) == pytest.approx(0.5 + 4.5 * abs(w) / np.abs(weight).max(), abs=0.01)
            assert float(shown_w) == pytest.approx(w, rel=2e-3)
            assert float(shown_grad) == pytest.approx(grad[i, j], rel=2e-3)
    assert '[color="#d62728"' in dot                                # red for the negative one
    bias_grad = net.layers[0].bias.grad
    assert f"h1\\nb=+0\\ndL/db={bias_grad[0]:+.3g}" in dot
    assert re.search(r'loss \[label="MSE\\nL = ([\d.]+)"', dot).group(1) == f"{loss.forward(net.forward(X), Y):.4g}"
    for name, value in net.state_dict().items():                    # weights untouched
        np.testing.assert_array_equal(value, before[name])
    net2 = blog_network()
    net2.layers[0].weight.value[0, 1] = -0.3
    np.testing.assert_array_equal(grad_before, 0)                   # a fresh net: nothing to put back
    sn.plot.draw_network(net2, X, Y)
    np.testing.assert_array_equal(net2.flat_parameter.grad, 0)      # Parameter.grad put back as it was


def test_without_data_no_gradients_and_the_loss_defaults_to_the_last_fits():
    net = blog_network()
    dot = sn.plot.draw_network(net)
    assert "dL/d" not in dot and "loss [" not in dot and dot.count(" -> ") == 6 + 2   # + 2 chains keeping units in order
    net.fit(X, Y, loss=sn.BinaryCrossEntropy(), optimizer=sn.SGD(0.1), epochs=1, verbose=0)
    assert "BinaryCrossEntropy\\nL = " in sn.plot.draw_network(net, X, Y)
    assert "MSE\\nL = " in sn.plot.draw_network(net, X, Y, loss="mse")


def test_wide_layers_and_convolutions_are_boxes_with_their_shapes_and_norms():
    net = sn.Sequential(sn.Conv2D(1, 2, 3), sn.ReLU(), sn.Flatten(), sn.Dense(2 * 4 * 4, 20), sn.ReLU(),
                        sn.Dense(20, 3), seed=0, dtype=np.float64)
    X_images = np.random.default_rng(0).normal(size=(4, 1, 6, 6))
    dot = sn.plot.draw_network(net, X_images, np.array([0, 1, 2, 0]), loss=sn.CrossEntropy())
    assert 'c0 [label="(N, 1, 6, 6)"' in dot and 'c1 [label="(N, 32)"' in dot and 'c2 [label="(N, 20)"' in dot
    assert "0: Conv2D 1→2, 3×3\\n1: ReLU\\n2: Flatten" in dot and "3: Dense 32→20\\n4: ReLU" in dot
    conv = net.layers[0].weight.value
    assert f"W 2×1×3×3: ||W||={np.linalg.norm(conv):.3g}, ||dL/dW||=" in dot
    assert "c2 -> c3_u1" in dot and "lhead=cluster_3" in dot        # a box reaches the units' frame
    assert len(re.findall(r"c3_u\d \[label", dot)) == 3             # 3 output units


def test_dot_file_png_and_svg_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    net = blog_network()
    text = sn.plot.draw_network(net, X, Y, path=tmp_path / "net.dot")
    assert (tmp_path / "net.dot").read_text() == text
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    sn.plot.draw_network(net, X, Y, path=tmp_path / "net.png", renderer="dot")
    assert (tmp_path / "net.png").read_bytes()[:8] == PNG_MAGIC
    sn.plot.draw_network(net, X, Y, path=tmp_path / "net.svg")
    svg = (tmp_path / "net.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "dL/dw=" in svg      # tooltips and labels


def test_matplotlib_draws_it_when_dot_is_not_installed(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    monkeypatch.setenv("PATH", str(tmp_path))                    # no dot program on PATH
    sn.plot.draw_network(blog_network(), X, Y, path=tmp_path / "net.png")
    pixels = imread(tmp_path / "net.png")
    assert pixels.shape[0] > 200 and np.any(pixels != pixels[0, 0], axis=2).mean() > 0.01
    with pytest.raises(RuntimeError, match="renderer='dot' needs Graphviz's dot program"):
        sn.plot.draw_network(blog_network(), path=tmp_path / "other.png", renderer="dot")
    sn.plot.draw_network(blog_network(), path=tmp_path / "net.svg", renderer="matplotlib")
    assert "<svg" in (tmp_path / "net.svg").read_text()


@pytest.mark.parametrize("args, options, error, match", [
    (("not a net",), {}, TypeError, "net must be a scratchnn Sequential"),
    ((None, X), {}, ValueError, "give both or neither, got X only"),
    ((None, None, Y), {}, ValueError, "give both or neither, got y only"),
    ((None, X[:, :1], Y), {}, ValueError, "does not fit the network"),
    ((None,), {"path": "net.pdf"}, ValueError, "path must end in .dot, .png or .svg, got 'net.pdf'"),
    ((None,), {"path": 3}, TypeError, "path must be a file name"),
    ((None,), {"renderer": "neato"}, ValueError, "renderer must be one of"),
])
def test_bad_input_is_refused_before_any_work(args, options, error, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = blog_network()
    args = (net if args[0] is None else args[0], *args[1:])
    with pytest.raises(error, match=match):
        sn.plot.draw_network(*args, **options)
    assert list(tmp_path.iterdir()) == []
