"""The report of a sweep: every trial in a sortable table (the keys that vary shown, the
rest a click away), status colours, mean ± std over repeats, the metric against the swept
parameters, the top trials' curves overlaid, edge-of-range warnings and links to each
trial's own report.

The trial folders are the source of truth (as for results.csv): each trial's summary is read
through RunFolder, the trial list and its parameters through SweepFolder.
"""

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from nnctl.config import dotted_items
from nnctl.report import charts
from nnctl.report.html import esc, facts, number, page, plain, status_badge
from nnctl.report.images import data_uri
from nnctl.report.run_page import _commit, _when, chart_divs, duration
from nnctl.runs import varying_keys

METRIC_FIELD = {"val_acc": "best_val_acc", "train_acc": "train_acc"}
TOP_CURVES = 5
SWEEP_PLOTS = ("heatmap.png", "scatter.png")


@dataclass
class Trial:
    number: int
    params: dict
    seed: object
    config: dict  # flat: the sweep's config with this trial's parameters and seed
    summary: dict
    status: object  # Status or None (not run yet)
    path: Path


def read_trials(folder, base):
    """Every trial of the sweep, in order; RunError naming a damaged trial summary."""
    _, listing = folder.read_spec()
    trials = []
    for entry in listing:
        number = int(entry.get("number", len(trials)))
        params = entry.get("params") or {}
        flat = dict(base)
        flat.update(params)
        flat["seed"] = entry.get("seed", flat.get("seed"))
        run = folder.trial(number)
        summary, status = {}, None
        if run.path.exists():
            summary = run.read_summary()
            status = run.status() if summary else None
        trials.append(Trial(number, params, flat["seed"], flat, summary, status, run.path))
    return trials


def metric_of(trial, field):
    """The trial's metric if it completed (as `nnctl sweep` ranks them), else None."""
    value = trial.summary.get(field)
    if str(trial.status) != "completed" or not isinstance(value, (int, float)):
        return None
    return float(value)


def points_of(trials, field):
    """[(params, mean, std, [trial numbers])] per distinct point, best mean first (repeats)."""
    groups = {}
    for trial in trials:
        groups.setdefault(json.dumps(trial.params, sort_keys=True), []).append(trial)
    points = []
    for members in groups.values():
        values = [m for m in (metric_of(t, field) for t in members) if m is not None]
        mean = sum(values) / len(values) if values else None
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else None
        points.append((members[0].params, mean, std, [t.number for t in members]))
    points.sort(key=lambda p: -math.inf if p[1] is None else p[1], reverse=True)
    return points


def _href(target, out_dir):
    """A relative link from the report's folder to target, URL-quoted."""
    return quote(Path(os.path.relpath(target, out_dir)).as_posix())


def trial_table(trials, field, out_dir, best, swept=()):
    """The trials as a sortable table: the keys that vary (the swept ones first, in their
    order), then the others (hidden until 'every key' is ticked), then status and results."""
    varying = varying_keys(t.config for t in trials)
    varying = [k for k in swept if k in varying] + [k for k in varying if k not in swept]
    keys = list(trials[0].config) if trials else []
    same = [k for k in keys if k not in varying]
    head = ['<th data-type="num">trial</th>', "<th>status</th>"]
    head += [f"<th>{esc(k)}</th>" for k in varying]
    head += [f'<th class="same">{esc(k)}</th>' for k in same]
    head += [
        f'<th data-type="num" class="metric">{esc(field.replace("_", " "))}</th>',
        '<th data-type="num">train acc</th>',
        '<th data-type="num">test acc</th>',
        '<th data-type="num">epochs</th>',
        '<th data-type="num">time</th>',
    ]
    rows = []
    for t in trials:
        s = t.summary
        status = str(t.status) if t.status else "not run"
        link = esc(f"{t.number:03d}")
        if t.path.exists():
            link = f'<a href="{esc(_href(t.path / "report.html", out_dir))}">{link}</a>'
        cells = [f'<td data-v="{t.number}">{link}</td>', f"<td>{status_badge(t.status)}</td>"]
        cells += [f"<td>{esc(plain(t.config.get(k)))}</td>" for k in varying]
        cells += [f'<td class="same">{esc(plain(t.config.get(k)))}</td>' for k in same]
        for key, spec in ((field, ".4f"), ("train_acc", ".4f"), ("test_acc", ".4f"),
                          ("epochs", "d"), ("seconds", ".1f")):  # fmt: skip
            value = s.get(key)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            v = f' data-v="{value}"' if numeric and math.isfinite(value) else ' data-v=""'
            shown = esc(duration(value)) if key == "seconds" and numeric else number(value, spec)
            cells.append(f'<td class="num"{v}>{shown}</td>')
        css = f"status-row-{esc(status.replace(' ', '-'))}"
        if best is not None and t.number == best:
            css += " best"
        rows.append(f'<tr class="{css}">{"".join(cells)}</tr>')
    toggle = (
        '<label class="toggle"><input type="checkbox" id="all-keys"> '
        f"show every config key ({len(same)} more, the same in every trial)</label>"
        if same
        else ""
    )
    return (
        f'{toggle}<div class="scroll"><table class="trials sortable" id="trials">'
        f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def points_table(points, label):
    """Mean ± std of the metric over each point's repeats (only when there are repeats)."""
    if all(len(p[3]) == 1 for p in points):
        return ""
    keys = list(points[0][0]) if points else []
    head = [f"<th>{esc(k)}</th>" for k in keys]
    head += [f'<th data-type="num">{esc(label)} mean ± std</th>', "<th>trials</th>"]
    rows = []
    for params, mean, std, numbers in points:
        cells = [f"<td>{esc(plain(params.get(k)))}</td>" for k in keys]
        shown = "–" if mean is None else f"{mean:.4f} ± {std:.4f}"
        cells.append(f'<td class="num" data-v="{"" if mean is None else mean}">{esc(shown)}</td>')
        cells.append(f"<td>{esc(', '.join(map(str, numbers)))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<h3>Points: {esc(label)} over the repeats</h3><div class="scroll">'
        f'<table class="points sortable"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def top_curves_chart(folder, trials, field, name):
    """Validation (solid) and training (dashed) accuracy of the best TOP_CURVES trials."""
    ranked = sorted(
        (t for t in trials if metric_of(t, field) is not None),
        key=lambda t: metric_of(t, field),
        reverse=True,
    )[:TOP_CURVES]
    histories = [(t, folder.trial(t.number).read_history()) for t in ranked]
    histories = [(t, h) for t, h in histories if h]
    if not histories:
        return None
    epochs = list(range(1, max(len(h) for _, h in histories) + 1))
    series = []
    for i, (trial, history) in enumerate(histories):
        color = charts.COLORS[i % len(charts.COLORS)]
        by_epoch = {int(r["epoch"]): r for r in history if r.get("epoch") is not None}
        label = f"trial {trial.number:03d}"
        series.append(
            charts.series(f"{label} val", [by_epoch.get(e, {}).get("val_acc") for e in epochs],
                          color, width=2.5 if i == 0 else 1.5)
        )  # fmt: skip
        series.append(
            charts.series(f"{label} train", [by_epoch.get(e, {}).get("train_acc") for e in epochs],
                          color, width=1, dash=[6, 4])
        )  # fmt: skip
    return charts.chart(
        "chart-top", f"Top {len(histories)} trials of {name}: validation (solid), training "
        "(dashed)", "epoch", epochs, "accuracy", series, integer=True,
    )  # fmt: skip


def header(folder, config, summary, status, trials, field, out_dir):
    sweep = config.sweep
    counts = {}
    for t in trials:
        key = str(t.status) if t.status else "not run"
        counts[key] = counts.get(key, 0) + 1
    count_html = " ".join(f"{status_badge(k)}&nbsp;{v}" for k, v in sorted(counts.items()))
    best = summary.get("best_trial")
    best_html = None
    if isinstance(best, int):
        target = folder.trial_path(best) / "report.html"
        best_html = f'<a href="{esc(_href(target, out_dir))}">trial {best:03d}</a>'
    versions = ", ".join(
        f"{k} {summary[k]}" for k in ("nnctl", "numpy", "python") if summary.get(k) is not None
    )
    rows = [
        ("status", status_badge(status)),
        ("folder", f"<code>{esc(folder.path.name)}</code>"),
        ("search", esc(f"{sweep.method}, {len(trials)} trials, {sweep.repeats} per point")),
        ("maximised", esc(sweep.metric)),
        ("trials by status", count_html),
        ("best trial", best_html),
        (
            f"best {sweep.metric}"
            + (f" (mean of {sweep.repeats} seeds)" if sweep.repeats > 1 else ""),
            number(summary.get("best_val_acc")),
        ),
        ("model", esc(config.model.type)),
        ("dataset", esc(config.data.dataset)),
        ("started", _when(summary.get("started"))),
        ("finished", _when(summary.get("finished"))),
        (
            "wall time",
            esc(duration(summary.get("seconds"))) if duration(summary.get("seconds")) else None,
        ),  # fmt: skip
        ("versions", esc(versions) if versions else None),
        ("git commit", _commit(summary)),
    ]
    warnings = summary.get("warnings") or []
    warning_html = ""
    if warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
        warning_html = (
            f'<div class="warnings"><b>Edge of the search range</b><ul>{items}</ul></div>'
        )
    return (
        f"<header><h1>{esc(config.name)}</h1>"
        f'<p class="sub">sweep report · {esc(folder.path.name)}</p></header>'
        f"<section><h2>Summary</h2>{facts(rows)}{warning_html}</section>"
    )


def render(folder, out_dir):
    """The sweep's report page (HTML text); links are relative to out_dir, where it goes."""
    config = folder.read_config()
    summary = folder.read_summary()
    status = folder.status()
    spec_config, _ = folder.read_spec()
    base = {
        k: v
        for k, v in dotted_items(spec_config).items()
        if k != "name" and not k.startswith("sweep")
    }
    trials = read_trials(folder, base)
    field = METRIC_FIELD[config.sweep.metric]
    label = config.sweep.metric.replace("_", " ")
    best = summary.get("best_trial") if isinstance(summary.get("best_trial"), int) else None
    specs = [c for c in (top_curves_chart(folder, trials, field, config.name),) if c]
    plots = folder.read_plots()
    figures = "".join(
        f'<figure><img src="{data_uri(plots[name])}" alt="{esc(name)}">'
        f"<figcaption>{esc(label)} against the swept parameters; trials without a result "
        "are marked with their status</figcaption></figure>"
        for name in SWEEP_PLOTS
        if name in plots
    )
    body = header(folder, config, summary, status, trials, field, out_dir)
    body += (
        f"<section><h2>Trials</h2>"
        '<p class="hint">Click a column heading to sort; the trial number opens its report.</p>'
        f"{trial_table(trials, field, out_dir, best, list(config.sweep.params))}"
        f"{points_table(points_of(trials, field), label)}</section>"
    )
    if figures or specs:
        body += (
            f"<section><h2>Results</h2>{figures}"
            f'<div class="charts">{chart_divs(specs)}</div></section>'
        )
    return page(f"{config.name} · nnctl sweep report", body, {"kind": "sweep", "charts": specs})


def trial_up_link(trial_path):
    """(href, label) from a trial's report back to its sweep's."""
    sweep = Path(trial_path).resolve().parent.parent
    return "../../report.html", sweep.name


def trial_paths(folder):
    """The trial folders of a sweep that exist (have run or are running)."""
    if not folder.trials_dir.is_dir():
        return []
    return [p for p in sorted(folder.trials_dir.iterdir()) if p.is_dir() and p.name.isdigit()]
