"""The report of a run: one self-contained file, its charts are the run's numbers, its
evaluation is eval.json's, every string from the folder is text, and it is written like
everything else nnctl writes (validated first, atomically, never into a locked folder)."""

import csv
import json

import pytest
from click.testing import CliRunner

from nnctl import atomic
from nnctl.cli import main
from nnctl.errors import RunError
from nnctl.report import write_report
from nnctl.report.html import inline_json
from nnctl.runs import FolderLock, RunFolder
from tests.report.pages import Page, read_page


def rounded(value):
    return None if value is None else float(f"{value:.5g}")


def history_of(run):
    """history.csv read with the csv module, not through RunFolder."""
    with open(run / "history.csv", newline="") as f:
        return [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(f)]


def test_a_run_report_is_one_file_that_needs_no_network(run_copy):
    path = write_report(run_copy)
    assert path == run_copy.resolve() / "report.html"
    page = read_page(path)
    for tag, attrs in page.tags:
        assert tag != "link", "no external stylesheet"
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//")), (tag, value)
        if tag == "img":
            assert attrs["src"].startswith(("data:image/png;base64,", "data:image/jpeg;base64,"))
        if tag == "script":
            assert "src" not in attrs, "every script is inline"
    scripts = [text for attrs, text in page.scripts if attrs.get("type") != "application/json"]
    assert len(scripts) == 2  # uPlot and nnctl's own, once each
    assert sum(s.count("https://github.com/leeoniya/uPlot") for s in scripts) == 1
    [policy] = [
        a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert "default-src 'none'" in policy and "img-src data:" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    # the run's pictures are in it: first-layer weight tiles and misclassified digits
    alts = [a.get("alt") for t, a in page.tags if t == "img"]
    assert "weights.png" in alts and "misclassified.png" in alts


def test_the_charts_are_the_runs_own_numbers_with_the_best_epoch_marked(run_copy):
    page = read_page(write_report(run_copy))
    history = history_of(run_copy)
    summary = json.loads((run_copy / "summary.json").read_text())
    acc = page.chart("chart-accuracy")
    assert acc["title"] == "Accuracy (mini)"
    assert acc["x"]["values"] == [1, 2, 3] and acc["x"]["integer"]
    train, val, star = acc["series"]
    assert train["values"] == [rounded(h["train_acc"]) for h in history]
    assert val["values"] == [rounded(h["val_acc"]) for h in history]
    best = summary["best_epoch"]
    assert acc["marker"]["x"] == best
    assert star["label"] == f"best epoch {best} (saved model)"
    assert star["values"] == [
        rounded(h["val_acc"]) if h["epoch"] == best else None for h in history
    ]

    loss = page.chart("chart-loss")
    records = [json.loads(line) for line in (run_copy / "metrics.jsonl").read_text().splitlines()]
    per_step = {r["step"]: r["loss"] for r in records if "lr" not in r and "loss" in r}
    epoch_ends = {r["epoch"]: r["step"] for r in records if "lr" in r}
    per_iteration, per_epoch = loss["series"]
    shown = dict(zip(loss["x"]["values"], per_iteration["values"], strict=True))
    assert {s: v for s, v in shown.items() if v is not None} == {
        s: rounded(v) for s, v in per_step.items()
    }  # 18 iterations: every one of them
    epoch_points = dict(zip(loss["x"]["values"], per_epoch["values"], strict=True))
    assert {s: v for s, v in epoch_points.items() if v is not None} == {
        epoch_ends[int(h["epoch"])]: rounded(h["loss"]) for h in history
    }
    assert loss["marker"]["x"] == epoch_ends[best]


def test_the_evaluation_is_eval_json(run_copy):
    page = read_page(write_report(run_copy))
    test = json.loads((run_copy / "eval.json").read_text())["test"]
    names, confusion = test["class_names"], test["confusion"]
    table = page.tables["confusion"]
    assert table[0][1:] == names
    assert [row[0] for row in table[1:]] == names
    assert [[int(c) for c in row[1:]] for row in table[1:]] == confusion
    per_class = page.tables["per-class"]
    assert [(row[0], row[1]) for row in per_class[1:]] == [
        (n, f"{test['per_class_accuracy'][n]:.4f}") for n in names
    ]
    assert [int(row[2]) for row in per_class[1:]] == [sum(r) for r in confusion]


def test_strings_from_the_folder_render_as_text_never_as_markup(run_copy):
    evil = "<script>alert(1)</script>"
    attribute = '" onmouseover="alert(2)'
    report = json.loads((run_copy / "eval.json").read_text())
    report["test"]["class_names"][0] = evil
    report["test"]["class_names"][1] = attribute
    report["test"]["per_class_accuracy"] = {
        evil if k == "0" else attribute if k == "1" else k: v
        for k, v in report["test"]["per_class_accuracy"].items()
    }
    atomic.write_text(run_copy / "eval.json", json.dumps(report))
    folder = RunFolder(run_copy)
    folder.update_summary(error="<img src=x onerror=alert(3)>", stop_reason=evil)
    config = (run_copy / "config.yaml").read_text()
    atomic.write_text(
        run_copy / "config.yaml", config.replace("root: null", "root: '<script>alert(4)</script>'")
    )
    page = read_page(write_report(run_copy))
    assert [t for t, _ in page.tags].count("script") == 3  # the data and the two known scripts
    assert not [t for t, a in page.tags if t == "img" and not a["src"].startswith("data:")]
    assert not [(t, n) for t, a in page.tags for n in a if n.startswith("on")]
    for text in (evil, attribute, "<img src=x onerror=alert(3)>", "<script>alert(4)</script>"):
        assert text in page.text  # shown, as text


def test_inline_data_cannot_close_its_script_element():
    text = inline_json({"label": "</script><script>alert(1)</script>", "x": [1.5, None]})
    assert "<" not in text and ">" not in text
    assert json.loads(text) == {"label": "</script><script>alert(1)</script>", "x": [1.5, None]}


def test_a_knn_report_shows_cross_validation_on_a_log_k_axis(made, tmp_path):
    page = Page(write_report(made.knn, out=tmp_path / "knn.html").read_text(encoding="utf-8"))
    summary = json.loads((made.knn / "summary.json").read_text())
    cv = summary["cross_validation"]
    chart = page.chart("chart-knn")
    assert chart["x"]["values"] == [1, 3, 10, 30] and chart["x"]["log"]
    mean, *folds = chart["series"]
    assert mean["values"] == [rounded(sum(cv[k]) / len(cv[k])) for k in ("1", "3", "10", "30")]
    assert len(folds) == 3
    assert [f["values"][2] for f in folds] == [rounded(v) for v in cv["10"]]
    assert chart["marker"]["x"] == summary["k"]
    assert not (made.knn / "report.html").exists()  # --out: the folder is not written


def test_a_locked_folder_is_not_written_but_a_report_elsewhere_is(run_copy, tmp_path):
    with FolderLock(run_copy):
        with pytest.raises(RunError, match="in use by process"):
            write_report(run_copy)
        assert not (run_copy / "report.html").exists()
        elsewhere = write_report(run_copy, out=tmp_path / "copy.html")
    assert "mini" in elsewhere.read_text()


def test_a_damaged_file_is_one_line_exit_2_and_nothing_is_written(run_copy):
    (run_copy / "summary.json").write_text('{"status": "compl')
    result = CliRunner().invoke(main, ["report", str(run_copy)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "summary.json is damaged" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (run_copy / "report.html").exists()
    (run_copy / "summary.json").write_text("{}")
    (run_copy / "history.csv").write_bytes(b"epoch,lr\n\xff\xfe,1\n")
    assert CliRunner().invoke(main, ["report", str(run_copy)]).exit_code == 2
    assert not (run_copy / "report.html").exists()


def test_the_report_command_writes_and_names_the_file(run_copy, tmp_path):
    result = CliRunner().invoke(main, ["report", str(run_copy), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {tmp_path / 'r.html'}\n"
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output
