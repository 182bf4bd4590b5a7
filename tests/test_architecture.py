"""The shape of the house: imports flow one way, no import hides in a function, no module sprawls.

- The import order of /work/shared/STYLE.md ("Layout"), written as import-linter contracts in
  pyproject.toml's [tool.importlinter]: cli > sklearn > (xor | gradcheck | plot) > model >
  training > serialization > (losses | optim | metrics | datasets) > nn > ops > kernels >
  _files > _checks, the same inside scratchnn.training, and no import circle in any package.
- No import inside a function, class or lambda, except of an optional third-party dependency.
- No module longer than `MAX_LINES` lines.
"""

import ast
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "scratchnn"
MAX_LINES = 450

# Optional third-party dependencies: the only modules a function may import (on first use).
OPTIONAL = {"numba", "tqdm", "matplotlib", "PIL", "threadpoolctl", "sklearn", "scipy", "torch", "dask",
            "distributed", "onnx", "onnxruntime", "mpi4py"}


def sources():
    return sorted(PACKAGE.rglob("*.py"))


def relative(path):
    return path.relative_to(ROOT).as_posix()


# --- imports flow one way ----------------------------------------------------------------------

def lint_imports(pythonpath, cwd):
    """Run import-linter's `lint-imports` on this repository's contracts; (exit code, report)."""
    linter = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    if linter is None:
        pytest.fail("import-linter is not installed: pip install -e .[test] (or pip install import-linter)")
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    done = subprocess.run([linter, "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_imports_follow_the_layers_of_the_house_and_form_no_circle(tmp_path):
    code, report = lint_imports(ROOT / "src", tmp_path)
    assert code == 0, report
    assert "0 broken" in report, report


def test_the_contracts_catch_an_upward_import(tmp_path):
    """The contracts are not vacuous: a copy of the package in which nn imports model breaks them."""
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "scratchnn", ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "scratchnn" / "nn" / "core.py", "a") as file:
        file.write("\nfrom ..model import Sequential as _upward\n")
    code, report = lint_imports(copy, tmp_path)
    assert code != 0, report
    assert "scratchnn.nn is not allowed to import scratchnn.model" in report, report
    assert "scratchnn.nn.core -> scratchnn.model" in report, report


# --- no imports inside functions ---------------------------------------------------------------

def nested_imports(tree):
    """(line, module names) of each import statement that is not at module level (under if,
    try and with at module level counts as module level)."""
    found = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            if nested and isinstance(child, ast.Import):
                found.append((child.lineno, [alias.name for alias in child.names]))
            elif nested and isinstance(child, ast.ImportFrom):
                found.append((child.lineno, ["." * child.level + (child.module or "")]))
            visit(child, nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                      ast.Lambda)))

    visit(tree, False)
    return found


def dynamic_imports(tree):
    """(line, name) of each ``__import__("x")`` / ``importlib.import_module("x")`` with a literal name."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            continue
        function = node.func
        if (isinstance(function, ast.Name) and function.id in ("__import__", "import_module")) or (
                isinstance(function, ast.Attribute) and function.attr == "import_module"):
            found.append((node.lineno, node.args[0].value))
    return found


def is_optional(module):
    return not module.startswith(".") and module.split(".")[0] in OPTIONAL


def test_functions_import_only_optional_dependencies():
    offenders = []
    for path in sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, modules in nested_imports(tree):
            offenders += [f"{relative(path)}:{line}: import {module}" for module in modules
                          if not is_optional(module)]
        offenders += [f"{relative(path)}:{line}: dynamic import of {module!r}"
                      for line, module in dynamic_imports(tree) if not is_optional(module)]
    assert not offenders, ("imports inside functions (only optional dependencies may be imported "
                           "there: " + ", ".join(sorted(OPTIONAL)) + "):\n" + "\n".join(offenders))


def test_the_nested_import_check_sees_what_it_should():
    tree = ast.parse("import numpy\n"
                     "try:\n    import numba\nexcept ImportError:\n    numba = None\n"
                     "def f():\n    from . import model\n    import tqdm\n    import scratchnn.nn\n"
                     "class C:\n    def g(self):\n        from ..nn import base\n"
                     "def h():\n    __import__('scratchnn.model')\n    importlib.import_module('PIL')\n")
    assert nested_imports(tree) == [(7, ["."]), (8, ["tqdm"]), (9, ["scratchnn.nn"]), (12, ["..nn"])]
    assert dynamic_imports(tree) == [(14, "scratchnn.model"), (15, "PIL")]
    assert [is_optional(name) for name in (".", "tqdm", "scratchnn.nn", "..nn", "PIL", "matplotlib.figure")] == [
        False, True, False, False, True, True]


# --- modules stay readable in one sitting ------------------------------------------------------

def test_no_module_is_longer_than_450_lines():
    lengths = {relative(path): len(path.read_text(encoding="utf-8").splitlines()) for path in sources()}
    too_long = {path: n for path, n in lengths.items() if n > MAX_LINES}
    assert not too_long, (f"modules over {MAX_LINES} lines (split them by concept): "
                          + ", ".join(f"{path} ({n} lines)" for path, n in sorted(too_long.items())))
