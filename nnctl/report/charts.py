"""Chart specifications: plain dicts that assets/report.js turns into uPlot charts.

    {"id", "title", "x": {"label", "values", "log", "integer"}, "y": {"label"},
     "series": [{"label", "values", "color", "width", "dash", "points", "line"}],
     "marker": {"x", "label"} or None}

Every series' values line up with x.values (None where a series has no value). The number
of series a chart draws is len(series); the browser test checks that against what rendered.
"""

import math

COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8",
]  # fmt: skip
BEST_COLOR = "#d62728"
MAX_POINTS = 1000  # per series: more is invisible at a chart's width and costs file size


def rounded(value, digits=5):
    """value to `digits` significant digits (None, NaN and infinities as None)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return None
    return value if isinstance(value, int) else float(f"{value:.{digits}g}")


def series(label, values, color, width=2.0, dash=None, points=False, line=True):
    return {
        "label": label,
        "values": [rounded(v) for v in values],
        "color": color,
        "width": width,
        "dash": dash,
        "points": points,
        "line": line,
    }


def chart(chart_id, title, x_label, x_values, y_label, series_list, **options):
    """options: log (x on a log axis), integer (whole-number x ticks), marker (x, label)."""
    return {
        "id": chart_id,
        "title": title,
        "x": {
            "label": x_label,
            "values": [rounded(v) for v in x_values],
            "log": bool(options.get("log")),
            "integer": bool(options.get("integer")),
        },
        "y": {"label": y_label},
        "series": series_list,
        "marker": options.get("marker"),
    }


def bucket_means(xs, ys, limit=MAX_POINTS):
    """(xs, ys, size) with at most `limit` points: means of consecutive buckets of `size`
    points, each placed at its bucket's last x (size 1: the input as it is)."""
    size = max(1, math.ceil(len(xs) / limit))
    if size == 1:
        return list(xs), list(ys), 1
    out_x, out_y = [], []
    for start in range(0, len(xs), size):
        chunk = [y for y in ys[start : start + size] if y is not None and math.isfinite(y)]
        out_x.append(xs[min(start + size, len(xs)) - 1])
        out_y.append(sum(chunk) / len(chunk) if chunk else None)
    return out_x, out_y, size


def spans_decades(values):
    """Positive numbers spanning a factor of 10 or more: shown on a log axis."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return (
        bool(numbers)
        and len(numbers) == len(values)
        and min(numbers) > 0
        and max(numbers) / min(numbers) >= 10
    )
