"""A sweep's trials leave their plots to be drawn on demand (a small trial spent more than half
its time drawing them); the sweep draws its own, and a trial's pictures can still be made."""

from nnctl.config import validate
from nnctl.experiment import picture_weights, run_experiment
from nnctl.sweep import run_sweep

TOY = {
    "name": "toy",
    "seed": 0,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 90, "val": 30}},
    "model": {"hidden_dims": [8]},
    "train": {"batch_size": 30, "epochs": 2},
}


def test_trials_draw_no_plots_but_the_sweep_does_and_a_trial_can_be_pictured(tmp_path):
    config = validate({**TOY, "sweep": {"params": {"train.learning_rate": [1e-3, 1e-2]}}})
    result = run_sweep(config, tmp_path, workers=1, quiet=True)
    trials = [result.folder / row["folder"] for row in result.rows]
    assert all(not list((trial / "plots").glob("*.png")) for trial in trials)
    assert all((trial / "model.npz").is_file() for trial in trials)
    assert {p.name for p in (result.folder / "plots").glob("*.png")} >= {"top_trials.png"}
    assert picture_weights(trials[0]) == trials[0] / "plots" / "weights.png"
    assert (trials[0] / "plots" / "weights.png").is_file()


def test_a_run_on_its_own_draws_its_plots(tmp_path):
    run = run_experiment(validate(TOY), tmp_path, quiet=True)
    assert {"loss.png", "accuracy.png", "weights.png"} <= {
        p.name for p in (run.run_dir / "plots").glob("*.png")
    }
