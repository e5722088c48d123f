"""The report of a sweep: every trial in the table with its status, the keys that vary in
view, mean ± std over repeats, the sweep's plots and warnings, the top trials' curves, and a
link to each trial's own report."""

import csv
import json
import os
import statistics
from urllib.parse import unquote

import yaml
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.report import write_report
from nnctl.report.sweep_page import Trial, points_of, points_table
from nnctl.runs import SweepFolder
from tests.report.pages import Page, read_page


def trial_summaries(sweep):
    """{trial number: summary} read straight from the trial folders."""
    return {
        int(p.name): json.loads((p / "summary.json").read_text())
        for p in sorted((sweep / "trials").iterdir())
    }


def test_every_trial_is_a_row_with_its_status_and_the_keys_that_vary(sweep_copy):
    page = read_page(write_report(sweep_copy))
    table = page.tables["trials"]
    header, rows = table[0], table[1:]
    summaries = trial_summaries(sweep_copy)
    assert [int(r[0]) for r in rows] == sorted(summaries)
    assert [r[1] for r in rows] == [summaries[n]["status"] for n in sorted(summaries)]
    assert {r[1] for r in rows} == {"completed", "diverged"}
    # visible columns: the swept keys; every other key is there but hidden until asked for
    hidden = {i for i, css in enumerate(page.classes["trials"][0]) if "same" in css.split()}
    assert all(
        ("same" in css.split()) == (i in hidden)
        for row in page.classes["trials"]
        for i, css in enumerate(row)
    )
    shown = [h for i, h in enumerate(header) if i not in hidden]
    assert shown[2:4] == ["train.learning_rate", "model.reg"]
    assert {header[i] for i in hidden} >= {"train.optimizer", "data.dataset", "seed"}
    spec = yaml.safe_load((sweep_copy / "sweep.yaml").read_text())
    lr = header.index("train.learning_rate")
    assert [float(r[lr]) for r in rows] == [
        t["params"]["train.learning_rate"] for t in spec["trials"]
    ]
    metric = header.index("best val acc")
    for row in rows:
        value = summaries[int(row[0])].get("best_val_acc")
        assert row[metric] == ("–" if value is None else f"{value:.4f}")
    for row, css in zip(rows, page.rows["trials"][1:], strict=True):
        assert f"status-row-{row[1]}" in css.split()


def test_each_trial_links_to_its_own_report_which_links_back(sweep_copy):
    page = read_page(write_report(sweep_copy))
    links = [a["href"] for t, a in page.tags if t == "a" and "trials/" in a.get("href", "")]
    numbers = sorted(trial_summaries(sweep_copy))
    assert links[1:] == [f"trials/{n:03d}/report.html" for n in numbers]  # first: best trial
    best = os.readlink(sweep_copy / "best")
    assert links[0] == f"{best}/report.html"
    for link in links:
        trial_page = read_page(sweep_copy / unquote(link))
        back = [a["href"] for t, a in trial_page.tags if t == "a"]
        assert back == ["../../report.html"]
        assert (sweep_copy / unquote(link)).parent.joinpath(back[0]).resolve() == (
            sweep_copy / "report.html"
        ).resolve()


def test_the_sweeps_plots_warnings_and_top_curves_are_shown(sweep_copy):
    page = read_page(write_report(sweep_copy))
    summary = json.loads((sweep_copy / "summary.json").read_text())
    assert summary["warnings"] == [
        "the best model.reg = 0 is at the lowest end of the searched range [0, 1]: "
        "widen the range on that side"
    ]
    assert summary["warnings"][0] in page.text
    assert "heatmap.png" in [a.get("alt") for t, a in page.tags if t == "img"]
    chart = page.chart("chart-top")
    summaries = trial_summaries(sweep_copy)
    completed = sorted(
        (n for n, s in summaries.items() if s["status"] == "completed"),
        key=lambda n: -summaries[n]["best_val_acc"],
    )
    assert [s["label"] for s in chart["series"]] == [
        f"trial {n:03d} {kind}" for n in completed for kind in ("val", "train")
    ]
    with open(sweep_copy / "trials" / f"{completed[0]:03d}" / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    assert chart["series"][0]["values"] == [float(f"{float(h['val_acc']):.5g}") for h in history]


def test_mean_and_std_over_repeats(tmp_path):
    def trial(number, lr, status, acc):
        return Trial(number, {"lr": lr}, number, {}, {"best_val_acc": acc}, status, tmp_path)

    trials = [
        trial(1, 0.1, "completed", 0.5),
        trial(2, 0.1, "completed", 0.7),
        trial(3, 0.01, "completed", 0.8),
        trial(4, 0.01, "diverged", 0.1),  # not counted: only completed trials are ranked
        trial(5, 1.0, "failed", None),
    ]
    points = points_of(trials, "best_val_acc")
    assert [(p[0], p[3]) for p in points] == [({"lr": 0.01}, [3, 4]), ({"lr": 0.1}, [1, 2]),
                                              ({"lr": 1.0}, [5])]  # fmt: skip
    assert points[1][1] == statistics.mean([0.5, 0.7])
    assert abs(points[1][2] - statistics.pstdev([0.5, 0.7])) < 1e-12
    assert points[0][1:3] == (0.8, 0.0) and points[2][1:3] == (None, None)
    page = Page(points_table(points, "val acc"))
    assert page.tables["points"][1:] == [
        ["0.01", "0.8000 ± 0.0000", "3, 4"],
        ["0.1", "0.6000 ± 0.1000", "1, 2"],
        ["1", "–", "5"],
    ]
    assert points_table(points_of(trials[:1], "best_val_acc"), "val acc") == ""  # no repeats


def test_trial_reports_already_up_to_date_are_kept(sweep_copy):
    write_report(sweep_copy)
    reports = sorted(sweep_copy.glob("trials/*/report.html"))
    assert len(reports) == len(trial_summaries(sweep_copy))
    before = {p: p.stat().st_mtime_ns for p in reports}
    changed = sweep_copy / "trials" / "002" / "summary.json"
    os.utime(changed, ns=(before[reports[1]] + 10**9,) * 2)
    write_report(sweep_copy)
    after = {p: p.stat().st_mtime_ns for p in reports}
    assert [p.parent.name for p in reports if after[p] != before[p]] == ["002"]


def test_the_sweep_command_writes_the_reports_unless_told_not_to(tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text(
        "name: s\ndata: {dataset: blobs, classes: 2, dim: 2, split: {train: 40, val: 10}}\n"
        "model: {hidden_dims: [4]}\ntrain: {epochs: 1, batch_size: 20}\n"
        "sweep: {params: {model.reg: [0.0, 0.1]}}\n"
    )
    runner = CliRunner()
    args = ["sweep", str(config), "--runs-dir", str(tmp_path / "runs"), "--quiet", "--workers", "1"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    sweep = (tmp_path / "runs" / "latest").resolve()
    assert f"report: {sweep / 'report.html'}" in result.output
    assert len(list(sweep.glob("trials/*/report.html"))) == 2
    result = runner.invoke(main, [*args, "--no-report"])
    assert result.exit_code == 0 and "report:" not in result.output
    second = (tmp_path / "runs" / "latest").resolve()
    assert second != sweep and SweepFolder.is_sweep(second)
    assert not (second / "report.html").exists() and not list(second.glob("trials/*/report.html"))


def test_the_sweeps_plot_marks_points_without_a_result(sweep_copy, monkeypatch):
    from nnctl import viz
    from nnctl.sweep.driver import _plot, collect_rows, summarise
    from nnctl.sweep.space import expand

    drawn = {}
    monkeypatch.setattr(viz, "plot_sweep_heatmap", lambda *a, **k: drawn.update(args=a, **k))
    monkeypatch.setattr(viz, "plot_top_curves", lambda *a, **k: drawn.update(top=k))
    folder = SweepFolder(sweep_copy)
    config = folder.read_config()
    trials = expand(config)
    points, _ = summarise(collect_rows(folder, trials, config), config)
    _plot(folder, points, config)
    keys, params, metrics = drawn["args"][:3]
    by_lr = {}
    for p, m, status in zip(params, metrics, drawn["statuses"], strict=True):
        by_lr.setdefault(p["train.learning_rate"], set()).add((m is None, status))
    assert by_lr[10.0] == {(True, "diverged")}  # shown, with its status
    assert {status for _, status in by_lr[0.01]} == {None}
    assert drawn["title"] == "val acc over the grid (toy)"
    assert drawn["top"]["title"] == "Top trials of toy"
