"""The autoencoder from the command line: it trains, evaluates and plots, its gradients check,
and what it learns is measured against an independent computation on data with a known
subspace."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import load_config, validate
from nnctl.experiment import evaluate_run, load_run, run_experiment


def subspace_data(path, rng, n=40, m=3, examples=1500, noise=0.01):
    """Examples in a known m-dimensional subspace of R^n (rows of `basis`) plus a little
    noise, saved as an npz dataset; returns the basis."""
    basis = np.linalg.qr(rng.standard_normal((n, m)))[0].T  # (m, n), orthonormal rows
    scales = np.array([3.0, 2.0, 1.0])[:m]
    codes = rng.standard_normal((examples, m)) * scales
    X = (codes @ basis + noise * rng.standard_normal((examples, n))).astype(np.float32)
    y = np.zeros(examples, dtype=np.int64)
    y[::2] = 1  # an autoencoder ignores labels, but a dataset has them
    np.savez(path, X_train=X[:1200], y_train=y[:1200], X_test=X[1200:], y_test=y[1200:])
    return basis


def config(npz, **model):
    return validate(
        {
            "name": "ae",
            "data": {"dataset": "npz", "path": str(npz), "split": {"val": 200}},
            "model": {"type": "autoencoder", "code_dim": 3, **model},
            "train": {"optimizer": "adam", "learning_rate": 1e-2, "batch_size": 50, "epochs": 30},
        }
    )


def largest_angle_deg(A, B):
    """Largest principal angle between row spaces, computed independently of nnctl: the
    singular values of Qa^T Qb are the cosines."""
    qa, qb = np.linalg.qr(A.T)[0], np.linalg.qr(B.T)[0]
    cosines = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1, 1)
    return float(np.degrees(np.arccos(cosines.min())))


def test_a_linear_autoencoder_run_learns_the_known_subspace(tmp_path, rng):
    basis = subspace_data(tmp_path / "sub.npz", rng)
    result = run_experiment(config(tmp_path / "sub.npz"), tmp_path / "runs", quiet=True)
    assert result.status == "completed" and result.metric == "error"
    run = result.run_dir
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "lr", "train_error", "val_error", "loss", "seconds"]
    errors = [float(r["val_error"]) for r in rows]
    assert errors[-1] < errors[0] / 10  # it learned to reconstruct
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_val_error"] == min(errors)  # the best epoch has the lowest error
    assert "best_val_acc" not in summary and "val_acc" not in summary  # no error posing as acc
    plots = {p.name for p in (run / "plots").iterdir()}
    assert {"loss.png", "error.png", "weights.png"} <= plots

    evaluation = evaluate_run(run)
    W = load_run(run).model.params["W"].astype(np.float64)
    assert largest_angle_deg(W, basis) < 2.0
    # nnctl compares with the PCA of the noisy data, within noise of the true subspace
    assert evaluation.metrics["largest_principal_angle_deg"] == pytest.approx(
        largest_angle_deg(W, basis), abs=0.5
    )
    assert evaluation.metrics["orthonormality_error"] == pytest.approx(
        np.linalg.norm(W @ W.T - np.eye(3)), rel=1e-6
    )
    X_test = np.load(tmp_path / "sub.npz")["X_test"].astype(np.float64)
    expected = 0.5 * np.mean(np.sum((X_test @ W.T @ W - X_test) ** 2, axis=1))
    assert evaluation.metrics["reconstruction_error"] == pytest.approx(expected, rel=1e-4)
    test_error = json.loads((run / "summary.json").read_text())["test_error"]
    assert test_error == pytest.approx(expected, rel=1e-4)


def test_the_cli_trains_evaluates_pictures_and_gradchecks_it(tmp_path, rng):
    subspace_data(tmp_path / "sub.npz", rng)
    (tmp_path / "ae.yaml").write_text(
        f"name: ae\ndata: {{dataset: npz, path: {tmp_path / 'sub.npz'}, split: {{val: 200}}}}\n"
        "model: {type: autoencoder, code_dim: 3, tied: false, code_activation: tanh}\n"
        "train: {optimizer: adam, learning_rate: 1e-2, batch_size: 50, epochs: 3}\n"
    )
    runner = CliRunner()
    runs = tmp_path / "runs"
    trained = runner.invoke(main, ["train", str(tmp_path / "ae.yaml"), "--runs-dir", str(runs)])
    assert trained.exit_code == 0, trained.output
    assert "train error" in trained.output and "best val error" in trained.output
    evaluated = runner.invoke(main, ["eval", str(runs / "latest")])
    assert evaluated.exit_code == 0 and "reconstruction error" in evaluated.output
    assert "principal angle" not in evaluated.output  # only a linear code is compared with PCA
    pictured = runner.invoke(main, ["viz-weights", str(runs / "latest")])
    assert pictured.exit_code == 0 and "weights.png" in pictured.output
    checked = runner.invoke(main, ["gradcheck", str(tmp_path / "ae.yaml")])
    assert checked.exit_code == 0, checked.output
    assert "all 4 gradients agree" in checked.output
    missing = runner.invoke(main, ["train", str(tmp_path / "ae.yaml"), "model.code_dim=null"])
    assert missing.exit_code == 2 and "needs model.code_dim" in missing.output


def test_the_shipped_config_learns_pca_of_the_digits(tmp_path):
    shipped = load_config("configs/mnist_autoencoder.yaml")
    result = run_experiment(shipped, tmp_path, quiet=True)
    metrics = evaluate_run(result.run_dir).metrics
    assert metrics["largest_principal_angle_deg"] < 5.0
    assert metrics["orthonormality_error"] < 0.05


def test_a_sweep_of_autoencoders_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "ae.yaml").write_text(
        "model: {type: autoencoder, code_dim: 4}\n"
        "sweep: {params: {train.learning_rate: [1e-3, 1e-2]}}\n"
    )
    result = CliRunner().invoke(
        main, ["sweep", str(tmp_path / "ae.yaml"), "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2 and "an autoencoder does not have" in result.output
    assert not (tmp_path / "runs").exists()
