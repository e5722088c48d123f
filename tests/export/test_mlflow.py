"""`nnctl export mlflow` into a real SQLite tracking store, read back with MlflowClient and
compared with the run folder's files."""

import shutil
import sys

import pytest
from click.testing import CliRunner

from nnctl.cli import main
from tests.export.files import epoch_times, flat_config, history, step_losses, summary

mlflow_tracking = pytest.importorskip("mlflow.tracking")
# MLflow's own SQLAlchemy models use a loader SQLAlchemy deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output + (result.stderr or "")
    return result


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory):
    """An empty SQLite tracking store, made once: MLflow's schema migrations take seconds."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    mlflow_tracking.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store):
    """A fresh SQLite tracking store of its own; artifacts go to ./mlruns beside it."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def runs_of(client, experiment="tiny"):
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def history_of(client, run_id, key):
    return sorted((m.step, m.value, m.timestamp) for m in client.get_metric_history(run_id, key))


def ms(seconds):
    return int(round(seconds * 1000))


def text(value):
    """A config value as the test expects MLflow to keep it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else repr(value)


def assert_run_is_the_folder(client, run, run_dir):
    data = run.data
    # params: the resolved config, every key
    assert data.params == {key: text(value) for key, value in flat_config(run_dir).items()}
    # metrics: every step and epoch value with its step and wall time, and the final results
    assert history_of(client, run.info.run_id, "step/loss") == sorted(
        (s, v, ms(t)) for s, v, t in step_losses(run_dir)
    )
    times = epoch_times(run_dir)
    for column, rows in history(run_dir).items():
        assert history_of(client, run.info.run_id, f"epoch/{column}") == [
            (epoch, value, ms(times[epoch])) for epoch, value in rows
        ], column
    final = summary(run_dir)
    for name in ("best_val_acc", "train_acc", "val_acc", "epochs"):
        assert data.metrics[name] == final[name], name
    # tags: nnctl's id, status, seed and the commit
    assert data.tags["nnctl.run_id"].endswith(run_dir.name)
    assert data.tags["nnctl.status"] == final["status"] == "completed"
    assert data.tags["nnctl.seed"] == str(final["seed"])
    if "git_commit" in final:
        assert data.tags["mlflow.source.git.commit"] == final["git_commit"]
    assert run.info.status == "FINISHED"
    assert run.info.start_time == ms(final["started"])


def test_a_run_reads_back_as_its_files_and_a_second_export_updates_it(trained_run, store):
    result = invoke("export", "mlflow", trained_run, "--tracking-uri", store)
    assert result.exit_code == 0, result.output
    assert "1 run(s) created, 0 updated" in result.output
    client = mlflow_tracking.MlflowClient(tracking_uri=store)
    (run,) = runs_of(client)
    assert_run_is_the_folder(client, run, trained_run)
    assert run.data.metrics["test_acc"] == summary(trained_run)["test_acc"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.npz", "config.yaml", "summary.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {f"plots/{p.name}" for p in (trained_run / "plots").glob("*.png")}
    model = client.download_artifacts(run.info.run_id, "model.npz", str(trained_run.parent))
    assert open(model, "rb").read() == (trained_run / "model.npz").read_bytes()

    again = invoke("export", "mlflow", trained_run, "--tracking-uri", store)
    assert again.exit_code == 0 and "0 run(s) created, 1 updated" in again.output
    (same,) = runs_of(client)
    assert same.info.run_id == run.info.run_id
    assert_run_is_the_folder(client, same, trained_run)  # no value twice


def test_a_store_that_keeps_every_logged_value_still_gets_each_value_once(
    trained_run, tmp_path, monkeypatch
):
    """SQL stores drop exact repeats themselves; MLflow's file store (still usable, opt-in)
    keeps them: the export itself logs only what the run does not have yet."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = f"file:{tmp_path / 'store'}"
    for _ in range(2):
        assert invoke("export", "mlflow", trained_run, "--tracking-uri", store).exit_code == 0
    client = mlflow_tracking.MlflowClient(tracking_uri=store)
    (run,) = runs_of(client)
    assert_run_is_the_folder(client, run, trained_run)


def test_a_sweep_is_a_parent_run_with_a_nested_run_per_trial(small_sweep, store):
    for _ in range(2):
        result = invoke(
            "export", "mlflow", small_sweep, "--tracking-uri", store, "--experiment", "grid"
        )
        assert result.exit_code == 0, result.output
    client = mlflow_tracking.MlflowClient(tracking_uri=store)
    runs = runs_of(client, "grid")
    assert len(runs) == 3  # exported twice, still one parent and two trials
    (parent,) = [r for r in runs if r.data.tags["nnctl.kind"] == "sweep"]
    assert parent.data.tags["nnctl.run_id"] == small_sweep.name
    assert parent.data.params["sweep.params.train.learning_rate"] == "[0.001, 0.01]"
    assert parent.data.metrics["best_val_acc"] == summary(small_sweep)["best_val_acc"]
    assert "results.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    trials = sorted(
        (r for r in runs if r.data.tags["nnctl.kind"] == "trial"),
        key=lambda r: r.data.tags["nnctl.run_id"],
    )
    for number, trial in enumerate(trials, start=1):
        assert trial.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert trial.data.tags["nnctl.run_id"] == f"{small_sweep.name}/trials/{number:03d}"
        assert_run_is_the_folder(client, trial, small_sweep / "trials" / f"{number:03d}")


def test_without_mlflow_the_command_says_how_to_install_it(trained_run, store, monkeypatch):
    for name in ("mlflow", "mlflow.exceptions", "mlflow.tracking"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it fails
    result = invoke("export", "mlflow", trained_run, "--tracking-uri", store)
    assert result.exit_code == 2
    assert result.stderr == "error: nnctl export mlflow needs MLflow: pip install 'nnctl[mlflow]'\n"


def test_a_missing_run_is_one_line_and_no_store_is_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("export", "mlflow", tmp_path / "nope")  # the default store: ./mlflow.db
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []
