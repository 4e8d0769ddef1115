"""The lean install: colorizing needs no Keras, and training says how to get it."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
from PIL import Image

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"
HEAVY = ("keras", "tensorflow", "tensorflow-cpu", "jax", "torch", "matplotlib")


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()


def test_a_plain_install_pulls_no_deep_learning_framework():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert not {_name(r) for r in project["dependencies"]} & set(HEAVY)
    assert {"keras", "tensorflow-cpu"} <= {_name(r) for r in project["optional-dependencies"]["train"]}


# Runs huenet as if the train extra were not installed: importing keras fails.
_WITHOUT_KERAS = "import sys; sys.modules['keras'] = None; sys.modules['tensorflow'] = None\nfrom huenet import cli\n"


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_train_and_evaluate_without_the_extra_say_how_to_install_it(command, tmp_path):
    script = _WITHOUT_KERAS + f"sys.exit(cli.main([{command!r}, '--data', {str(tmp_path)!r}]))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"huenet: error: huenet {command} needs Keras and TensorFlow, which a plain "
        "install leaves out; install them with: pip install 'huenet[train]'"
    )


def test_colorizing_without_the_extra_works(tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60), dtype=np.uint8)).save(source)
    script = (
        _WITHOUT_KERAS + f"sys.exit(cli.main(['colorize', {str(source)!r}, '-o', {str(tmp_path / 'out.png')!r}, '-q']))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out.png") as output:
        assert output.size == (60, 40) and output.mode == "RGB"
    script = (
        _WITHOUT_KERAS
        + f"sys.exit(cli.main(['colorize', {str(source)!r}, '-o', {str(tmp_path / 'k.png')!r}, '--engine', 'keras']))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "--engine keras needs Keras" in result.stderr and "Traceback" not in result.stderr


def test_serve_without_its_extra_says_how_to_install_it():
    script = (
        "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\nfrom huenet import cli\n"
        "sys.exit(cli.main(['serve']))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "huenet serve needs starlette, uvicorn" in result.stderr and "pip install 'huenet[serve]'" in result.stderr
