"""--extend: a widened sweep reuses the finished trials of an earlier one and runs only the
new points."""

import json

import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import validate
from nnctl.errors import RunError
from nnctl.runs import RunFolder
from nnctl.sweep import run_sweep

BASE = {
    "name": "toy",
    "seed": 1,
    "data": {"dataset": "blobs", "classes": 3, "dim": 6, "split": {"train": 150, "val": 60}},
    "model": {"hidden_dims": [8]},
    "train": {"optimizer": "adam", "batch_size": 30, "epochs": 2},
}


def config(rates, name="toy", **sweep):
    return validate(
        {**BASE, "name": name, "sweep": {**sweep, "params": {"train.learning_rate": rates}}}
    )


def summaries(folder):
    return [
        json.loads((p / "summary.json").read_text()) for p in sorted((folder / "trials").iterdir())
    ]


@pytest.fixture
def trained(monkeypatch):
    """The learning rates each trial trained with, in order (inline workers only)."""
    from nnctl.experiment.runners import NetJob

    seen = []
    real_run = NetJob.run

    def run(self, folder):
        seen.append(self.config.train.learning_rate)
        return real_run(self, folder)

    monkeypatch.setattr(NetJob, "run", run)
    return seen


def test_extend_reuses_the_matching_finished_trials_and_runs_only_new_points(
    tmp_path, trained, monkeypatch
):
    old = run_sweep(config([1e-3, 1e-2]), tmp_path / "old", workers=1, quiet=True)
    del trained[:]
    import nnctl.sweep.driver as driver

    jobs = []
    real_trial = driver.run_trial
    monkeypatch.setattr(driver, "run_trial", lambda *job: jobs.append(job) or real_trial(*job))
    # Renamed and widened (the old points now second and fourth): the configs still match.
    wide = config([3e-4, 1e-3, 3e-3, 1e-2], name="wider")
    new = run_sweep(wide, tmp_path / "new", workers=1, quiet=True, extend=old.folder)
    assert trained == [3e-4, 3e-3]
    assert [job[1].rsplit("/", 1)[1] for job in jobs] == ["001", "003"]  # no other job at all
    got = summaries(new.folder)
    reused = [s.get("reused_from") for s in got]
    assert reused == [None, str(old.folder / "trials/001"), None, str(old.folder / "trials/002")]
    before = summaries(old.folder)
    for new_n, old_n in ((1, 0), (3, 1)):
        assert got[new_n]["best_val_acc"] == before[old_n]["best_val_acc"]
        assert (new.folder / "trials" / f"{new_n + 1:03d}" / "model.npz").is_file()
    assert [r["status"] for r in new.rows] == ["completed"] * 4
    assert new.effort["epochs"] == {"trained": 4, "full": 4, "reused": 2}
    # The old sweep is untouched, its files independent of the copies.
    assert [s.get("reused_from") for s in before] == [None, None]
    straight = run_sweep(wide, tmp_path / "straight", workers=1, quiet=True)
    assert [r["best_val_acc"] for r in new.rows] == [r["best_val_acc"] for r in straight.rows]


def test_a_failed_trial_is_not_reused_and_a_changed_setting_matches_nothing(
    tmp_path, trained, monkeypatch
):
    import nnctl.experiment.runners as runners

    real_save = runners.save_model

    def save(folder, model, splits, **meta):
        if RunFolder(folder.path).read_config().train.learning_rate == 1e-2:
            raise OSError("the disk was full")
        return real_save(folder, model, splits, **meta)

    monkeypatch.setattr(runners, "save_model", save)
    old = run_sweep(config([1e-3, 1e-2]), tmp_path / "old", workers=1, quiet=True)
    monkeypatch.setattr(runners, "save_model", real_save)
    assert [r["status"] for r in old.rows] == ["completed", "failed"]
    del trained[:]
    run_sweep(config([1e-3, 1e-2]), tmp_path / "new", workers=1, quiet=True, extend=old.folder)
    assert trained == [1e-2]
    del trained[:]
    longer = validate({**config([1e-3]).model_dump(), "train": {**BASE["train"], "epochs": 3}})
    run_sweep(longer, tmp_path / "longer", workers=1, quiet=True, extend=old.folder)
    assert trained == [1e-3]


def test_extend_is_checked_before_any_folder_is_made(tmp_path):
    with pytest.raises(RunError, match="is not a sweep folder"):
        run_sweep(config([1e-3]), tmp_path / "runs", quiet=True, extend=tmp_path)
    assert not (tmp_path / "runs").exists()
    path = tmp_path / "toy.yaml"
    path.write_text(json.dumps({**BASE, "sweep": {"params": {"model.reg": [0.0]}}}))
    both = CliRunner().invoke(main, ["sweep", str(path), "--extend", ".", "--resume", "."])
    assert both.exit_code == 2 and "--extend starts a new sweep" in both.output
