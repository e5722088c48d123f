"""train and eval write the run's report at the end (unless --no-report), and a report that
cannot be written is a warning that changes neither the run's status nor the exit code."""

import json

import pytest
from click.testing import CliRunner

import nnctl.report
from nnctl.cli import main
from tests.report.pages import read_page

TINY = """\
name: tiny
seed: 1
data: {dataset: blobs, classes: 3, dim: 4, split: {train: 60, val: 30, test: 30}}
model: {hidden_dims: [8]}
train: {optimizer: adam, learning_rate: 1e-2, batch_size: 30, epochs: 2}
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def train(tmp_path, config, *extra):
    result = CliRunner().invoke(
        main, ["train", str(config), "--runs-dir", str(tmp_path / "runs"), "--quiet", *extra]
    )
    return result, (tmp_path / "runs" / "latest").resolve()


def test_train_and_eval_write_the_report(tmp_path, tiny):
    result, run = train(tmp_path, tiny)
    assert result.exit_code == 0, result.output
    assert f"report: {run / 'report.html'}" in result.output.splitlines()
    assert "Evaluation" not in read_page(run / "report.html").text
    result = CliRunner().invoke(main, ["eval", str(run)])
    assert result.exit_code == 0, result.output
    assert result.output.endswith(f"report: {run / 'report.html'}\n")
    page = read_page(run / "report.html")
    assert "Evaluation" in page.text and "confusion" in page.tables


def test_no_report_writes_none(tmp_path, tiny):
    result, run = train(tmp_path, tiny, "--no-report")
    assert result.exit_code == 0 and "report:" not in result.output
    result = CliRunner().invoke(main, ["eval", str(run), "--no-report"])
    assert result.exit_code == 0 and "report:" not in result.output
    assert not (run / "report.html").exists()


def test_a_report_that_fails_is_a_warning_and_changes_nothing(tmp_path, tiny, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nnctl.report, "write_report", broken)
    result, run = train(tmp_path, tiny)
    assert result.exit_code == 0
    assert "warning: no report written (OSError: [Errno 28] No space left on device)" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    result, run = train(tmp_path, tiny, "train.learning_rate=1e4")  # diverges: exit code 1
    assert result.exit_code == 1 and "warning: no report written" in result.output
    assert json.loads((run / "summary.json").read_text())["status"] == "diverged"
