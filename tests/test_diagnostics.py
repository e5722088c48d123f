"""`nnctl gradcheck`: one stated criterion, applied alike to every row, verdict and exit code."""

import re

import numpy as np
import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.diagnostics import Criterion
from nnctl.models import FullyConnectedNet

SPIRAL = """\
name: spiral
seed: 0
data:
  dataset: spiral
model:
  hidden_dims: [5]
"""

NUMBER = r"(-|[0-9.]+e[+-][0-9]+)"
ROW = re.compile(rf"^(\w+)\s+(\S+)\s+(\d+)\s+{NUMBER}\s+{NUMBER}\s+(ok|FAIL)$", re.M)


@pytest.fixture
def spiral(tmp_path):
    path = tmp_path / "spiral.yaml"
    path.write_text(SPIRAL)
    return path


def gradcheck(config, *args):
    result = CliRunner().invoke(main, ["gradcheck", str(config), *map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


def parse(output):
    """The stated absolute tolerance and the rows {name: (rel, abs, ok)} ('-' becomes None)."""
    atol = float(re.search(r"max\(\S+ \* \(\|numeric\| \+ \|analytic\|\), (\S+)\)", output)[1])
    rows = {
        name: (None if rel == "-" else float(rel), None if ab == "-" else float(ab), flag == "ok")
        for name, _, _, rel, ab, flag in ROW.findall(output)
    }
    return atol, rows


def scale_gradient(monkeypatch, name, factor):
    """Make the model's analytic gradient of parameter `name` wrong by the given factor."""
    loss = FullyConnectedNet.loss

    def wrong_loss(self, X, y=None):
        if y is None:
            return loss(self, X, y)
        value, grads = loss(self, X, y)
        return value, {**grads, name: grads[name] * factor}

    monkeypatch.setattr(FullyConnectedNet, "loss", wrong_loss)


# A toy set by hand: entries the criterion must accept and reject, at threshold 1e-5, atol 1e-9
# (floor 1e-4: larger entries are judged relatively, smaller ones absolutely).
CRITERION = Criterion(threshold=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "numeric,analytic,rel,absolute,ok",
    [
        ([0.5, 1e-11], [0.5 * (1 + 2e-5), 0.0], 1e-5 / (1 + 1e-5), 1e-11, True),  # 0 vs noise
        ([0.5], [0.5 * (1 + 4e-5)], 2e-5 / (1 + 2e-5), None, False),  # 2e-5 relative error
        ([1e-6], [1e-6 + 5e-9], None, 5e-9, False),  # small, but wrong beyond the noise
        ([1e-6], [2e-6], None, 1e-6, False),  # a factor of 2 on a small entry
        ([1e-6], [1e-6 + 5e-10], None, 5e-10, True),  # small, within the noise
        ([np.nan, 0.5], [0.1, 0.5], 0.0, np.nan, False),  # a NaN never passes
    ],
)
def test_criterion_on_hand_made_entries(numeric, analytic, rel, absolute, ok):
    row = CRITERION.compare("W", (len(numeric),), np.array(numeric), np.array(analytic))
    assert row.ok is ok
    assert row.checked == len(numeric)
    for got, want in ((row.rel_error, rel), (row.abs_error, absolute)):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_tolerance_follows_the_rounding_noise_of_the_step():
    # eps * |loss| / h: 2.2e-16 / 1e-5 = 2.2e-11 per unit of loss, a hundredfold.
    assert Criterion.for_loss(1e-5, 0.3).atol == pytest.approx(2.2e-9)
    assert Criterion.for_loss(1e-5, 10.0).atol == pytest.approx(2.2e-8)
    assert Criterion.for_loss(1e-5, 10.0, h=1e-3).atol == pytest.approx(2.2e-10)
    assert Criterion.for_loss(1e-4, 1.0).floor == pytest.approx(2.2e-9 / 1e-4)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["model.loss=mse"],  # noise-sized entries once showed 1.3e-4 next to "ok"
        ["model.normalization=batchnorm", "model.dropout=0.2"],
        ["model.hidden_dims=[5,5]"],  # a ReLU kink inside the step: a genuine FAIL
    ],
)
@pytest.mark.parametrize("threshold", [1e-5, 1e-7])
def test_rows_verdict_and_summary_agree_with_the_stated_criterion(spiral, overrides, threshold):
    result = gradcheck(spiral, *overrides, "--threshold", threshold)
    assert f"max({threshold:g} * (|numeric| + |analytic|)" in result.output
    atol, rows = parse(result.output)
    assert rows and atol < 1e-7
    for name, (rel, absolute, ok) in rows.items():
        within = (rel is None or rel <= threshold) and (absolute is None or absolute <= atol)
        assert ok is within, f"{name}: rel {rel}, abs {absolute}, shown {'ok' if ok else 'FAIL'}"
    if all(ok for _, _, ok in rows.values()):
        assert result.exit_code == 0
        assert f"all {len(rows)} gradients agree (rel error <= {threshold:g}" in result.output
    else:
        assert result.exit_code == 1 and "agree" not in result.output
        failed = ", ".join(name for name, (_, _, ok) in rows.items() if not ok)
        assert f"gradients of {failed} differ" in result.output


def test_a_wrong_gradient_fails_with_exit_1(spiral, monkeypatch):
    assert gradcheck(spiral).exit_code == 0
    scale_gradient(monkeypatch, "b1", -1.0)  # a sign error in one layer
    result = gradcheck(spiral)
    assert result.exit_code == 1
    _, rows = parse(result.output)
    assert not rows["b1"][2] and all(ok for name, (_, _, ok) in rows.items() if name != "b1")
    assert rows["b1"][0] == pytest.approx(1.0)  # |g - (-g)| / (|g| + |-g|)
    assert "gradients of b1 differ from the numerical ones" in result.output


@pytest.mark.parametrize("loss", ["softmax", "mse"])
def test_threshold_flips_the_verdict_of_a_measured_error(spiral, monkeypatch, loss):
    # W2's gradient 1e-4 too large: its relative error is 1e-4 / (2 + 1e-4) ~ 5.0e-5 on every
    # entry large enough to measure one, whatever the threshold.
    scale_gradient(monkeypatch, "W2", 1 + 1e-4)
    expected = 1e-4 / (2 + 1e-4)
    strict = gradcheck(spiral, f"model.loss={loss}", "--threshold", 1e-5)
    loose = gradcheck(spiral, f"model.loss={loss}", "--threshold", 1e-4)
    assert strict.exit_code == 1 and loose.exit_code == 0
    for result, ok in ((strict, False), (loose, True)):
        _, rows = parse(result.output)
        rel, _, shown_ok = rows["W2"]
        assert shown_ok is ok
        assert rel == pytest.approx(expected, rel=1e-2)
        assert all(row[2] for name, row in rows.items() if name != "W2")
