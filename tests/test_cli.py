"""The command line: help, version, and error mapping."""

import subprocess
import sys

from click.testing import CliRunner

from nnctl import __version__
from nnctl.cli import main


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "nnctl" in result.output and "--debug" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_python_dash_m_works():
    proc = subprocess.run(
        [sys.executable, "-m", "nnctl", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "Usage:" in proc.stdout


def test_help_does_not_import_heavy_modules():
    # `nnctl --help` must start fast: matplotlib, pydantic and tqdm are imported lazily.
    heavy = "('matplotlib', 'tqdm')"
    code = f"import sys, nnctl.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
