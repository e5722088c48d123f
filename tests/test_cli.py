"""The command line through CliRunner: every command, and every user mistake we can think of.

A mistake gives exit code 2 and one clear line on stderr, never a traceback, and never a
half-made run folder.
"""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nnctl import __version__
from nnctl.cli import main

TINY = """\
name: tiny
seed: 1
data:
  dataset: blobs
  classes: 3
  dim: 4
  split: {train: 120, val: 30, test: 30}
model:
  hidden_dims: [8]
train:
  optimizer: adam
  learning_rate: 1e-2
  batch_size: 30
  epochs: 2
"""


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def invoke(runner, *args):
    result = runner.invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output + (result.stderr or "")
    return result


def train(runner, tmp_path, config, *extra):
    return invoke(runner, "train", config, "--runs-dir", tmp_path / "runs", "--quiet", *extra)


def test_help_lists_commands(runner):
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    for command in ("train", "eval", "viz-weights", "gradcheck", "datasets", "runs"):
        assert command in result.output


def test_version(runner):
    assert __version__ in invoke(runner, "--version").output


def test_python_dash_m_works():
    proc = subprocess.run(
        [sys.executable, "-m", "nnctl", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "Usage:" in proc.stdout


def test_help_does_not_import_heavy_modules():
    heavy = "('matplotlib', 'tqdm', 'pydantic', 'yaml')"
    code = f"import sys, nnctl.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_train_eval_viz_and_runs(runner, tmp_path, tiny):
    result = train(runner, tmp_path, tiny)
    assert result.exit_code == 0, result.output
    assert "run folder:" in result.output and "best val acc" in result.output
    run = next(p for p in (tmp_path / "runs").iterdir() if p.name != "latest")

    result = invoke(runner, "eval", run)
    assert result.exit_code == 0 and "test accuracy" in result.output
    assert "class 0" in result.output and (run / "eval.json").is_file()

    out = tmp_path / "w.png"
    result = invoke(runner, "viz-weights", run, "--out", out)
    assert result.exit_code == 0 and out.stat().st_size > 0 and str(out) in result.output
    assert invoke(runner, "viz-weights", run, "--layer", 2).exit_code == 0
    result = invoke(runner, "viz-weights", run, "--layer", 3)
    assert result.exit_code == 2 and "no layer 3" in result.output

    result = invoke(runner, "runs", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0 and run.name in result.output and "completed" in result.output
    result = invoke(runner, "runs", "--runs-dir", tmp_path / "runs", "--csv", "--sort", "val_acc")
    assert result.output.splitlines()[0] == (
        "run,kind,status,progress,dataset,model,best_val_acc,test_acc,epochs,total_epochs,"
        "seconds,best_trial"
    )
    assert json.loads((run / "summary.json").read_text())["test_acc"] is not None


def test_overrides_name_seed_and_print_config(runner, tmp_path, tiny):
    result = invoke(
        runner,
        "train",
        tiny,
        "train.learning_rate=5e-4",
        "model.hidden_dims=[7,5]",
        "--name",
        "other",
        "--seed",
        "9",
        "--print-config",
    )
    assert result.exit_code == 0
    assert "learning_rate: 0.0005" in result.output and "hidden_dims: [7, 5]" in result.output
    assert "name: other" in result.output and "seed: 9" in result.output
    assert not (tmp_path / "runs").exists()


KNN = """\
name: knn
data: {dataset: blobs, classes: 3, dim: 4, split: {train: 120, val: 0, test: 30}}
model: {type: knn, k: [1, 3]}
"""


def test_knn_run_has_no_weights_to_picture(runner, tmp_path):
    (tmp_path / "knn.yaml").write_text(KNN)
    result = train(runner, tmp_path, tmp_path / "knn.yaml")
    assert result.exit_code == 0, result.output
    assert "k = " in result.output
    run = next(p for p in (tmp_path / "runs").iterdir() if p.name != "latest")
    result = invoke(runner, "viz-weights", run)
    assert result.exit_code == 2 and "kNN run: it has no learned weights" in result.output


def test_a_diverged_run_exits_1(runner, tmp_path, tiny):
    result = train(runner, tmp_path, tiny, "train.learning_rate=1e9", "train.optimizer=sgd")
    assert result.exit_code == 1 and "diverged" in result.output


@pytest.mark.parametrize(
    "text,message",
    [
        ("name: x\ntrain: [1,\n", "invalid YAML"),
        (
            "model:\n  hiden_dims: [3]\n",
            ":2:3: model.hiden_dims: unknown key — did you mean model.hidden_dims?",
        ),
        ("train:\n  epochs: many\n", "train.epochs: input should be a valid integer"),
        ("train:\n  learning_rate: -1\n", "train.learning_rate: input should be greater than 0"),
        ("data:\n  dataset: imagenet\n", "data.dataset: expected one of"),
        ("train:\n  optimizer: lbfgs\n", "train.optimizer: expected one of"),
        ("model:\n  activation: gelu\n", "model.activation: expected one of"),
        ("model:\n  normalization: groupnorm\n", "model.normalization: expected one of"),
    ],
)
def test_config_mistakes(runner, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = train(runner, tmp_path, path)
    assert result.exit_code == 2
    assert message in result.output and result.output.startswith("error: ")
    assert not (tmp_path / "runs").exists()


def test_missing_file_and_bad_override(runner, tmp_path, tiny):
    result = train(runner, tmp_path, tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "does not exist" in result.output
    result = train(runner, tmp_path, tiny, "epochs")
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.output
    result = train(runner, tmp_path, tiny, "--seed", "abc")
    assert result.exit_code == 2 and "is not a valid integer" in result.output


def test_missing_dataset_shows_the_download_command(runner, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  dataset: cifar10\n")
    result = train(runner, tmp_path, path, "--data-dir", tmp_path / "nodata")
    assert result.exit_code == 2
    assert f"nnctl datasets download cifar10 --data-dir {tmp_path / 'nodata'}" in result.output
    assert not (tmp_path / "runs").exists()


def test_impossible_split_for_the_data(runner, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  dataset: mnist-mini\n  split: {train: 9000, val: 2000}\n")
    result = train(runner, tmp_path, path)
    assert result.exit_code == 2 and "the training set has 10000" in result.output
    assert not (tmp_path / "runs").exists()


def test_eval_and_viz_on_folders_that_are_not_runs(runner, tmp_path, tiny):
    result = invoke(runner, "eval", tmp_path)
    assert result.exit_code == 2 and "is not a run folder" in result.output
    result = invoke(runner, "viz-weights", tmp_path / "missing")
    assert result.exit_code == 2
    run = tmp_path / "half"
    run.mkdir()
    (run / "config.yaml").write_text(TINY)
    (run / "summary.json").write_text('{"status": "failed"}')
    result = invoke(runner, "eval", run)
    assert result.exit_code == 2 and "has no model.npz" in result.output


def test_resume_of_a_completed_run(runner, tmp_path, tiny):
    assert train(runner, tmp_path, tiny).exit_code == 0
    run = next(p for p in (tmp_path / "runs").iterdir() if p.name != "latest")
    result = train(runner, tmp_path, tiny, "--resume", run)
    assert result.exit_code == 2 and "already finished" in result.output


def test_gradcheck(runner, tiny, monkeypatch):
    result = invoke(runner, "gradcheck", tiny, "model.normalization=batchnorm", "model.dropout=0.2")
    assert result.exit_code == 0, result.output
    assert "W1" in result.output and "all 6 gradients agree" in result.output

    from nnctl.nn import layers

    broken = layers.ACTIVATIONS["relu"]
    monkeypatch.setitem(
        layers.ACTIVATIONS, "relu", (broken[0], lambda dout, cache: 1.1 * broken[1](dout, cache))
    )
    result = invoke(runner, "gradcheck", tiny)
    assert (
        result.exit_code == 1
        and "FAIL" in result.output
        and "differ from the numerical ones" in result.output
    )


def test_gradcheck_rejects_knn(runner, tmp_path):
    (tmp_path / "knn.yaml").write_text(KNN)
    result = invoke(runner, "gradcheck", tmp_path / "knn.yaml")
    assert result.exit_code == 2 and "kNN has no gradients" in result.output


def test_datasets_list_and_download_errors(runner, tmp_path):
    result = invoke(runner, "datasets", "list", "--data-dir", tmp_path)
    assert result.exit_code == 0
    assert "cifar10" in result.output and "missing" in result.output and "bundled" in result.output
    result = invoke(runner, "datasets", "download", "spiral", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "cannot be downloaded" in result.output


def test_debug_shows_the_traceback_and_without_it_one_line(tmp_path):
    command = [sys.executable, "-m", "nnctl", "train", str(tmp_path / "nope.yaml")]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2
    assert plain.stderr.splitlines() == [
        f"error: experiment file {tmp_path / 'nope.yaml'} does not exist"
    ]
    debug = subprocess.run(
        [*command[:3], "--debug", *command[3:]], capture_output=True, text=True, timeout=60
    )
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ConfigError: experiment file" in debug.stderr
