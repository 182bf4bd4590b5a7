"""``scratchnn export MODEL OUT.onnx [--opset N]``."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.cli import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def model_file(tmp_path):
    net = sn.Sequential(sn.Dense(4, 6), sn.GELU(), sn.Dropout(0.5), sn.Dense(6, 3), seed=0)
    net.classes = ["x", "y", "z"]
    net.save(tmp_path / "model.npz")
    return net, tmp_path / "model.npz"


@pytest.mark.parametrize("opset", [None, 20])
def test_export_writes_a_model_onnxruntime_runs_as_predict(capsys, tmp_path, model_file, opset):
    net, path = model_file
    out = tmp_path / "model.onnx"
    code, stdout, err = run(capsys, "export", path, out, *(["--opset", opset] if opset else []))
    assert code == 0 and err == ""
    assert f"Wrote {out} (opset {opset or 18})" in stdout and "Dense, GELU, Dropout, Dense" in stdout
    model = onnx.load(out)
    assert model.opset_import[0].version == (opset or 18)
    assert ("Gelu" in {node.op_type for node in model.graph.node}) == (opset == 20)
    X = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": X})[0], net.predict(X), rtol=1e-4, atol=1e-5)
    assert sn.import_onnx(out).classes == ["x", "y", "z"]


@pytest.mark.parametrize("argv, message", [
    (["missing.npz", "out.onnx"], "no model file"),
    (["MODEL", "out.onnx", "--opset", "9"], "opset must be an int from 13"),
    (["MODEL", "out.onnx", "--opset", "x"], "invalid int value"),
    (["MODEL", "no/such/dir/out.onnx"], "does not exist"),
])
def test_export_errors_are_one_line_and_exit_2(capsys, tmp_path, model_file, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    argv = [str(model_file[1]) if a == "MODEL" else a for a in argv]
    code, stdout, err = run(capsys, "export", *argv)
    assert code == 2 and stdout == "" and message in err and err.count("\n") == 1
    assert not (tmp_path / "out.onnx").exists()


def test_export_without_onnx_names_the_extra(capsys, tmp_path, model_file, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    code, _, err = run(capsys, "export", model_file[1], tmp_path / "out.onnx")
    assert code == 2 and "pip install scratchnn[onnx]" in err and err.count("\n") == 1
