"""The report of one run (or one trial of a sweep): what it was, how it went, what it learned.

Everything is read through RunFolder first (a damaged file is a RunError and nothing is
written); `render` returns the page as text.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

from nnctl.config import to_yaml
from nnctl.report import charts
from nnctl.report.html import esc, facts, number, page, status_badge, table
from nnctl.report.images import data_uri
from nnctl.runs import RunFolder, SweepFolder

# Pictures the page draws itself (interactive, or as a table), so their PNGs are left out.
REDRAWN = {"loss.png", "accuracy.png", "error.png", "knn_cv.png", "top_trials.png"}
CAPTIONS = {
    "weights.png": "First-layer weights (class templates for a linear classifier)",
    "misclassified.png": "Misclassified test examples, captioned true → predicted",
    "misclassified_val.png": "Misclassified validation examples, captioned true → predicted",
    "confusion.png": "Confusion matrix (test)",
    "confusion_val.png": "Confusion matrix (validation)",
    "reconstructions.png": "Test images (upper) and their reconstructions (lower)",
}


@dataclass
class RunData:
    """What a run's report shows, read from its folder."""

    folder: RunFolder
    summary: dict
    status: object  # Status or None
    config: object  # ExperimentConfig
    history: list
    metrics: list
    evals: dict
    plots: dict  # file name -> PNG bytes

    @property
    def name(self):
        return self.config.name


def read_run(path, with_plots=True):
    """RunData of the run folder at path; RunError naming any damaged file."""
    folder = RunFolder.open(path)
    return RunData(
        folder=folder,
        summary=folder.read_summary(),
        status=folder.status(),
        config=folder.read_config(),
        history=[h for h in folder.read_history() if h.get("epoch") is not None],
        metrics=folder.read_metrics(),
        evals=folder.read_eval(),
        plots=folder.read_plots() if with_plots else {},
    )


def sweep_of(path):
    """The sweep folder a trial folder belongs to, or None for a standalone run."""
    path = Path(path).resolve()
    if path.parent.name == "trials" and SweepFolder.is_sweep(path.parent.parent):
        return path.parent.parent
    return None


# -- charts ---------------------------------------------------------------------------------


def _epoch_steps(metrics):
    """{epoch: the iteration it ended at} from the per-epoch records of metrics.jsonl (the
    ones with the epoch's learning rate)."""
    return {
        int(r["epoch"]): r["step"]
        for r in metrics
        if "lr" in r and isinstance(r.get("epoch"), (int, float)) and "step" in r
    }


def loss_chart(run):
    """Per-iteration training loss (bucket means past charts.MAX_POINTS), the mean loss of
    each epoch at the iteration it ended, and the end of the best epoch."""
    steps = [
        (r["step"], r["loss"]) for r in run.metrics if "loss" in r and "lr" not in r and "step" in r
    ]
    if not steps:
        return None
    xs, ys, size = charts.bucket_means([s for s, _ in steps], [v for _, v in steps])
    ends = _epoch_steps(run.metrics)
    epoch_means = {
        ends[int(h["epoch"])]: h.get("loss") for h in run.history if int(h["epoch"]) in ends
    }
    grid = sorted(set(xs) | set(epoch_means))
    by_x = dict(zip(xs, ys, strict=True))
    label = "loss per iteration" if size == 1 else f"mean loss of {size} iterations"
    series = [
        charts.series(
            label, [by_x.get(x) for x in grid], charts.COLORS[0], width=1, points=len(xs) < 30
        ),
        charts.series(
            "mean loss per epoch",
            [epoch_means.get(x) for x in grid],
            charts.COLORS[1],
            points=True,
        ),
    ]
    best = run.summary.get("best_epoch")
    marker = None
    if isinstance(best, int) and best in ends:
        marker = {"x": ends[best], "label": f"best epoch {best} ends"}
    return charts.chart(
        "chart-loss", f"Training loss ({run.name})", "iteration", grid, "loss", series,
        integer=True, marker=marker,
    )  # fmt: skip


# The per-epoch curves a history may hold: (train column, validation column, what they are).
CURVES = (("train_acc", "val_acc", "accuracy"), ("train_error", "val_error", "error"))


def accuracy_chart(run):
    """Training and validation accuracy (or error, for an autoencoder) per epoch, the best
    epoch marked on the curve it was chosen by (validation when there is any)."""
    found = [
        (train_key, val_key, what)
        for train_key, val_key, what in CURVES
        if any(h.get(train_key) is not None for h in run.history)
    ]
    if not found:
        return None
    train_key, val_key, what = found[0]
    train = [h.get(train_key) for h in run.history]
    epochs = [int(h["epoch"]) for h in run.history]
    val = [h.get(val_key) for h in run.history]
    series = [charts.series("train", train, charts.COLORS[0], points=True)]
    chosen_by = train
    if any(v is not None for v in val):
        series.append(charts.series("validation", val, charts.COLORS[1], points=True))
        chosen_by = val
    best = run.summary.get("best_epoch")
    marker = None
    if isinstance(best, int) and best in epochs:
        at = epochs.index(best)
        star = [chosen_by[i] if i == at else None for i in range(len(epochs))]
        label = f"best epoch {best} (saved model)"
        series.append(charts.series(label, star, charts.BEST_COLOR, points=True, line=False))
        marker = {"x": best, "label": f"best epoch {best}"}
    return charts.chart(
        "chart-accuracy", f"{what.capitalize()} ({run.name})", "epoch", epochs, what, series,
        integer=True, marker=marker,
    )  # fmt: skip


def knn_chart(run):
    """Cross-validation accuracy against k: every fold as points, the mean as a line, the
    chosen k marked; k on a log axis when the ks span decades."""
    cv = run.summary.get("cross_validation")
    if not isinstance(cv, dict) or not cv:
        return None
    try:
        ks = sorted(int(k) for k in cv)
    except ValueError:
        return None
    folds = [list(cv[str(k)]) for k in ks]
    means = [sum(f) / len(f) if f else None for f in folds]
    series = [charts.series("mean accuracy", means, charts.COLORS[0], points=True)]
    for i in range(max(len(f) for f in folds)):
        values = [f[i] if i < len(f) else None for f in folds]
        series.append(
            charts.series(f"fold {i + 1}", values, charts.COLORS[7], width=1, points=True,
                          line=False)
        )  # fmt: skip
    chosen = run.summary.get("k")
    marker = {"x": chosen, "label": f"chosen k = {chosen}"} if chosen in ks else None
    log = charts.spans_decades(ks)
    return charts.chart(
        "chart-knn", f"kNN cross-validation ({run.name})", "k (log scale)" if log else "k", ks,
        "cross-validation accuracy", series, log=log, integer=True, marker=marker,
    )  # fmt: skip


# -- sections -------------------------------------------------------------------------------


def _when(timestamp):
    if not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp):
        return None
    return esc(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)))


def duration(seconds):
    """'1h 02m', '3m 07s' or '4.2s'."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return None
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def _commit(summary):
    commit = summary.get("git_commit")
    if not commit:
        return None
    dirty = " (with uncommitted changes)" if summary.get("git_dirty") else ""
    return f"<code>{esc(str(commit)[:12])}</code>{esc(dirty)}"


def _results(s):
    """The run's results: accuracies, or reconstruction errors for a model that has those."""
    what = "error" if "best_val_error" in s else "acc"
    best = "best_val_error" if what == "error" else "best_val_acc"
    test = s.get(f"test_{what}")
    return [
        (f"best val {what}", number(s.get(best))),
        (f"final train {what}", number(s.get(f"train_{what}"))),
        (f"final val {what}", number(s.get(f"val_{what}"))),
        (f"test {what}", None if test is None else number(test)),
    ]


def header(run, up=None):
    """Title, status and the facts of the run."""
    s, config = run.summary, run.config
    epochs = s.get("epochs")
    total = s.get("total_epochs")
    epochs_text = None if epochs is None else esc(f"{epochs} of {total}" if total else epochs)
    seconds = s.get("seconds")
    per_epoch = None
    if isinstance(seconds, (int, float)) and isinstance(epochs, int) and epochs > 0:
        per_epoch = duration(seconds / epochs)
    versions = ", ".join(
        f"{k} {s[k]}" for k in ("nnctl", "numpy", "python") if s.get(k) is not None
    )
    rows = [
        ("status", status_badge(run.status)),
        ("stopped because", esc(s.get("stop_reason")) if s.get("stop_reason") else None),
        ("error", f"<code>{esc(s['error'])}</code>" if s.get("error") else None),
        ("diverged at iteration", esc(s["diverged_at"]) if s.get("diverged_at") else None),
        ("folder", f"<code>{esc(run.folder.path.name)}</code>"),
        ("model", esc(config.model.type)),
        ("dataset", esc(config.data.dataset)),
        ("seed", esc(config.seed)),
        ("started", _when(s.get("started"))),
        ("finished", _when(s.get("finished"))),
        ("training time", esc(duration(seconds)) if duration(seconds) else None),
        ("time per epoch", esc(per_epoch) if per_epoch else None),
        ("epochs", epochs_text),
        ("best epoch", esc(s["best_epoch"]) if s.get("best_epoch") else None),
        ("k", esc(s["k"]) if s.get("k") is not None else None),
        *_results(s),
        ("versions", esc(versions) if versions else None),
        ("git commit", _commit(s)),
    ]
    back = ""
    if up is not None:
        href, label = up
        back = f'<p class="up"><a href="{esc(href)}">← sweep {esc(label)}</a></p>'
    return (
        f"<header>{back}<h1>{esc(run.name)}</h1>"
        f'<p class="sub">run report · {esc(run.folder.path.name)}</p></header>'
        f"<section><h2>Summary</h2>{facts(rows)}</section>"
    )


def confusion_table(entry):
    """The confusion matrix as a table: counts, each cell shaded by its row's rate."""
    names = entry.get("class_names") or []
    matrix = entry.get("confusion") or []
    if not names or len(matrix) != len(names):
        return ""
    head = ["true ↓ predicted →", *(esc(n) for n in names)]
    rows = []
    for i, (name, row) in enumerate(zip(names, matrix, strict=True)):
        total = sum(row) or 1
        cells = [f"<b>{esc(name)}</b>"]
        for j, count in enumerate(row):
            rate = count / total
            style = f"background:rgba(31,119,180,{rate:.2f});" + (
                "color:#fff;" if rate > 0.55 else ""
            )
            bold = " diag" if i == j else ""
            cells.append(f'<span class="cell{bold}" style="{style}">{esc(count)}</span>')
        rows.append(cells)
    return table(head, rows, css_class="confusion")


def per_class_table(entry):
    per_class = entry.get("per_class_accuracy") or {}
    names = entry.get("class_names") or list(per_class)
    matrix = entry.get("confusion") or []
    rows = []
    for i, name in enumerate(names):
        acc = per_class.get(name)
        count = sum(matrix[i]) if i < len(matrix) else None
        bar = ""
        if isinstance(acc, (int, float)):
            bar = f'<span class="bar" style="width:{max(0.0, min(1.0, acc)) * 100:.1f}%"></span>'
        rows.append([esc(name), number(acc), esc(count), f'<span class="track">{bar}</span>'])
    return table(["class", "accuracy", "examples", ""], rows, css_class="per-class", numeric=(1, 2))


def evaluation(run):
    """One block per evaluated split: accuracy (or the measured metrics), per-class
    accuracy and the confusion matrix."""
    if not run.evals:
        return ""
    blocks = []
    for split in ("test", "val"):
        entry = run.evals.get(split)
        if not isinstance(entry, dict):
            continue
        title = {"test": "Test split", "val": "Validation split"}[split]
        known = {"per_class_accuracy", "confusion", "class_names", "note"}
        pairs = [(k.replace("_", " "), number(v) if isinstance(v, float) else esc(v))
                 for k, v in entry.items() if k not in known]  # fmt: skip
        note = f'<p class="note">{esc(entry["note"])}</p>' if entry.get("note") else ""
        inner = facts(pairs) + note
        if entry.get("per_class_accuracy"):
            inner += f"<h4>Per-class accuracy</h4>{per_class_table(entry)}"
        if entry.get("confusion"):
            inner += (
                "<h4>Confusion matrix (rows: true class; shade: share of the row)</h4>"
                f'<div class="scroll">{confusion_table(entry)}</div>'
            )
        blocks.append(f"<h3>{title}</h3>{inner}")
    return "<section><h2>Evaluation</h2>" + "".join(blocks) + "</section>" if blocks else ""


def pictures(run):
    """The PNGs of plots/ the page does not draw itself, embedded."""
    shown_as_tables = {
        f"confusion{'' if split == 'test' else '_val'}.png"
        for split, entry in run.evals.items()
        if isinstance(entry, dict) and entry.get("confusion")
    }
    figures = []
    for name, png in run.plots.items():
        if name in REDRAWN or name in shown_as_tables:
            continue
        caption = CAPTIONS.get(name)
        if caption is None and name.startswith("weights_layer"):
            caption = f"Weights of layer {name.removeprefix('weights_layer').removesuffix('.png')}"
        figures.append(
            f'<figure><img src="{data_uri(png)}" alt="{esc(name)}">'
            f"<figcaption>{esc(caption or name)}</figcaption></figure>"
        )
    return "<section><h2>Pictures</h2>" + "".join(figures) + "</section>" if figures else ""


def chart_divs(specs):
    return "".join(
        f'<div class="chart" id="{esc(s["id"])}" data-series="{len(s["series"])}"></div>'
        for s in specs
    )


def render(run, up=None):
    """The run's report page (HTML text). up: (href, label) of the sweep it belongs to."""
    specs = [c for c in (loss_chart(run), accuracy_chart(run), knn_chart(run)) if c]
    curves = ""
    if specs:
        curves = (
            "<section><h2>Curves</h2>"
            '<p class="hint">Hover for values; drag to zoom, double-click to reset.</p>'
            f'<div class="charts">{chart_divs(specs)}</div></section>'
        )
    body = (
        header(run, up)
        + curves
        + evaluation(run)
        + pictures(run)
        + f'<section><h2>Config</h2><pre class="config">{esc(to_yaml(run.config))}</pre></section>'
    )
    return page(f"{run.name} · nnctl run report", body, {"kind": "run", "charts": specs})
