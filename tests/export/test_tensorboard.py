"""`nnctl export tensorboard` and `train.log_to: [tensorboard]`, read back with TensorBoard's
own reader and compared with the run folder's files."""

import io
import sys
import typing

import numpy as np
import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import TrainConfig, validate
from nnctl.experiment import run_experiment
from nnctl.training.live import LIVE_LOGGERS
from tests.export.conftest import RUN
from tests.export.files import epoch_times, flat_config, history, step_losses, summary

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
from tensorboard.plugins.hparams import metadata as hparams_metadata  # noqa: E402


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output + (result.stderr or "")
    return result


def read_events(logdir):
    events = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0}
    )
    events.Reload()
    return events


def scalars(events, tag):
    return [(e.step, e.value, e.wall_time) for e in events.Scalars(tag)]


def f32(value):
    return float(np.float32(value))  # TensorBoard keeps scalars as float32


def assert_scalars_are_the_files(events, run_dir):
    """Every scalar equals metrics.jsonl (per step) or history.csv (per epoch), with its
    recorded wall time; and there are no others but the final results."""
    assert scalars(events, "step/loss") == [(s, f32(v), t) for s, v, t in step_losses(run_dir)]
    times = epoch_times(run_dir)
    columns = history(run_dir)
    assert set(columns) == {"lr", "train_acc", "val_acc", "loss", "seconds"}
    for column, rows in columns.items():
        expected = [(epoch, f32(value), times[epoch]) for epoch, value in rows]
        assert scalars(events, f"epoch/{column}") == expected, column
    final = summary(run_dir)
    expected_final = {"best_val_acc", "train_acc", "val_acc", "epochs"} | (
        {"test_acc"} if "test_acc" in final else set()
    )
    tags = set(events.Tags()["scalars"])
    assert tags == {"step/loss"} | {f"epoch/{c}" for c in columns} | expected_final
    for name in expected_final:
        ((step, value, _),) = scalars(events, name)
        assert (step, value) == (final["epochs"], f32(final[name])), name


def hparams_content(events):
    return events.PluginTagToContent("hparams")


def session_hparams(events):
    start = hparams_metadata.parse_session_start_info_plugin_data(
        hparams_content(events)["_hparams_/session_start_info"]
    )
    return {key: value for key, value in _values(start.hparams)}


def _values(mapping):
    for key, value in mapping.items():
        kind = value.WhichOneof("kind")
        yield key, getattr(value, kind)


def expected_hparams(run_dir):
    """The flattened config as TensorBoard holds hparams (numbers as float64, no nulls)."""
    return {
        k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
        for k, v in flat_config(run_dir).items()
        if v is not None
    }


def test_a_run_reads_back_as_its_files(trained_run, tmp_path):
    result = invoke("export", "tensorboard", trained_run, "--out", tmp_path / "tb")
    assert result.exit_code == 0, result.output
    logdir = tmp_path / "tb" / trained_run.name
    assert str(logdir) in result.output
    events = read_events(logdir)
    assert_scalars_are_the_files(events, trained_run)
    # the config as text, exactly as config.yaml says
    (text,) = events.Tensors("config/text_summary")
    shown = text.tensor_proto.string_val[0].decode()
    assert (
        "\n".join(line[4:] for line in shown.splitlines()) + "\n"
        == (trained_run / "config.yaml").read_text()
    )
    # hyperparameters and final metrics for the HParams dashboard
    assert session_hparams(events) == expected_hparams(trained_run)
    experiment = hparams_metadata.parse_experiment_plugin_data(
        hparams_content(events)["_hparams_/experiment"]
    )
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert metrics == {"best_val_acc", "train_acc", "val_acc", "test_acc", "epochs"}
    # the weight picture, pixel for pixel
    (image,) = events.Images("weights")
    from matplotlib import image as mpimage

    shown = mpimage.imread(io.BytesIO(image.encoded_image_string), format="png")
    on_disk = mpimage.imread(trained_run / "plots" / "weights.png")
    np.testing.assert_array_equal(shown, on_disk)


def test_a_sweep_is_one_hparams_table_with_a_run_per_trial(small_sweep, tmp_path):
    result = invoke("export", "tensorboard", small_sweep, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    root = tmp_path / small_sweep.name
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["trial-001", "trial-002"]
    experiment = hparams_metadata.parse_experiment_plugin_data(
        hparams_content(read_events(root))["_hparams_/experiment"]
    )
    assert "train.learning_rate" in {h.name for h in experiment.hparam_infos}
    assert {m.name.tag for m in experiment.metric_infos} >= {"best_val_acc", "train_acc"}
    rates = []
    for number in (1, 2):
        trial = small_sweep / "trials" / f"{number:03d}"
        events = read_events(root / f"trial-{number:03d}")
        assert_scalars_are_the_files(events, trial)
        assert session_hparams(events) == expected_hparams(trial)
        # each trial is a session of its own: no experiment of its own to compete with the root's
        assert "_hparams_/experiment" not in hparams_content(events)
        rates.append(session_hparams(events)["train.learning_rate"])
    assert rates == [1e-3, 1e-2]


def test_exporting_again_replaces_the_export_and_never_a_foreign_folder(trained_run, tmp_path):
    out = tmp_path / "tb"
    for _ in range(2):
        assert invoke("export", "tensorboard", trained_run, "--out", out).exit_code == 0
    files = [p.name for p in (out / trained_run.name).iterdir() if p.name.startswith("events")]
    assert len(files) == 1
    assert sorted(p.name for p in out.iterdir()) == [trained_run.name]  # nothing left beside it

    foreign = tmp_path / "mine" / trained_run.name
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("keep me")
    result = invoke("export", "tensorboard", trained_run, "--out", tmp_path / "mine")
    assert result.exit_code == 2
    assert "was not written by nnctl export" in result.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_a_damaged_run_is_one_line_and_nothing_is_written(trained_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "summary.json").write_text('{"status": "compl')
    result = invoke("export", "tensorboard", broken, "--out", tmp_path / "tb")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "summary.json is damaged" in result.stderr
    assert not (tmp_path / "tb").exists()


def test_without_tensorboardx_the_command_and_log_to_say_how_to_install_it(
    trained_run, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails
    result = invoke("export", "tensorboard", trained_run, "--out", tmp_path / "tb")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: nnctl export tensorboard needs tensorboardX: pip install 'nnctl[tensorboard]'\n"
    )
    config = validate({**RUN, "train": {**RUN["train"], "log_to": ["tensorboard"]}})
    with pytest.raises(Exception, match=r"pip install 'nnctl\[tensorboard\]'"):
        run_experiment(config, tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_log_to_tensorboard_writes_the_same_scalars_while_training(tmp_path):
    config = validate({**RUN, "train": {**RUN["train"], "log_to": ["tensorboard"]}})
    run_dir = run_experiment(config, tmp_path, quiet=True).run_dir
    events = read_events(run_dir / "tensorboard")
    losses = [(s, v) for s, v, _ in scalars(events, "step/loss")]
    assert losses == [(s, f32(v)) for s, v, _ in step_losses(run_dir)]
    for column, rows in history(run_dir).items():
        logged = [(s, v) for s, v, _ in scalars(events, f"epoch/{column}")]
        assert logged == [(epoch, f32(value)) for epoch, value in rows], column


def test_log_to_takes_its_names_from_the_live_loggers():
    (listed,) = typing.get_args(TrainConfig.model_fields["log_to"].annotation)
    assert set(typing.get_args(listed)) == set(LIVE_LOGGERS) == {"tensorboard"}
