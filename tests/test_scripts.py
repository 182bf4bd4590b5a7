"""The install scripts (scripts/_env.sh, used by quickstart.sh and test.sh) put Python
packages into a virtual environment: the active one, or .venv/ beside the scripts, never the
interpreter that happens to be first on PATH (Debian's refuses, and a shared one gets polluted)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_use_venv(folder, environment):
    """Source scripts/_env.sh in `folder`, call use_venv, print the Python it chose."""
    script = f'source "{ROOT / "scripts" / "_env.sh"}"; use_venv; python -c "import sys; print(sys.prefix)"'
    done = subprocess.run(["bash", "-c", script], cwd=folder, env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip()), done.stderr


@pytest.mark.slow
def test_without_an_active_environment_the_scripts_make_and_use_dot_venv(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    environment["PATH"] = f"{Path(sys.executable).parent}:{environment['PATH']}"   # a python3 to make it with
    prefix, message = run_use_venv(tmp_path, environment)
    assert prefix == tmp_path / ".venv" and "using the virtual environment" in message
    assert prefix != Path(sys.prefix)
    again, _ = run_use_venv(tmp_path, environment)                     # made once, then reused
    assert again == prefix


def test_an_active_environment_is_used_as_it_is(tmp_path):
    venv = tmp_path / "mine"
    (venv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, venv / "bin" / "python")                # stands in for its python
    environment = {**os.environ, "VIRTUAL_ENV": str(venv)}
    script = f'source "{ROOT / "scripts" / "_env.sh"}"; use_venv; command -v python; echo "$VIRTUAL_ENV"'
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(venv / "bin" / "python"), str(venv)]
    assert not (tmp_path / ".venv").exists()


@pytest.mark.parametrize("name", ["quickstart.sh", "test.sh", "_env.sh"])
def test_the_scripts_parse_and_never_pip_install_outside_the_environment(name):
    path = ROOT / "scripts" / name
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    if name != "_env.sh":                  # the scripts that install: the environment comes first
        text = path.read_text()
        assert text.index("\nuse_venv\n") < text.index("pip install")
