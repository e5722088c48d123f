"""The parts every report page is made of: escaping, inline data, the page around a body.

A page is one self-contained file: uPlot (vendored, see vendor/README.md) and nnctl's own
script and styles are inlined once, the chart data is inline JSON, pictures are data URIs.
Its Content-Security-Policy allows no network access at all, and runs only the page's own
scripts (by their hashes): a string that slipped through unescaped still could not run.

Every string that comes from a run folder (names, class names, config values, errors) goes
through `esc` in HTML, and through `inline_json` (which escapes <, > and &) in the data.
"""

import base64
import hashlib
import html
import json
import math
from importlib import resources

from nnctl import __version__

UPLOT_VERSION = "1.6.32"


def esc(value):
    """value as HTML text or attribute value: & < > " ' escaped; None is a dash."""
    return "–" if value is None else html.escape(str(value), quote=True)


def _finite(value):
    """value with NaN and infinities as None (JSON has no such numbers)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def inline_json(data):
    """data as JSON that is safe inside a <script> element: no '</script>' or '<!--' can
    appear, because <, > and & are written as \\u escapes (as are the two line separators
    JavaScript once treated as line ends)."""
    text = json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def asset(name):
    """The text of a file shipped in nnctl/report (e.g. 'vendor/uPlot.iife.min.js')."""
    return resources.files("nnctl.report").joinpath(name).read_text(encoding="utf-8")


def _script_hash(script):
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def page(title, body, data):
    """The whole HTML document: head with the policy and styles, body, data, scripts."""
    scripts = [asset("vendor/uPlot.iife.min.js"), asset("assets/report.js")]
    for script in scripts:  # an inline script may not close its own element early
        assert "</script" not in script.lower()
    policy = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src {' '.join(_script_hash(s) for s in scripts)}; "
        "base-uri 'none'; form-action 'none'"
    )
    styles = asset("vendor/uPlot.min.css") + "\n" + asset("assets/report.css")
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f'<meta name="generator" content="nnctl {esc(__version__)}">\n',
            f"<title>{esc(title)}</title>\n<style>\n{styles}\n</style>\n</head>\n<body>\n",
            body,
            "\n<footer>Written by nnctl ",
            esc(__version__),
            f". Charts: uPlot {UPLOT_VERSION} (MIT licence). ",
            "This file needs no network.</footer>\n",
            f'<script type="application/json" id="nnctl-data">{inline_json(data)}</script>\n',
            *(f"<script>{s}</script>\n" for s in scripts),
            "</body>\n</html>\n",
        ]
    )


NUM = ' class="num"'


def table(header, rows, css_class=None, numeric=()):
    """An HTML table; header and rows are already-escaped HTML cells. Columns whose index is
    in `numeric` are right-aligned."""

    def cells(tag, values):
        return "".join(
            f"<{tag}{NUM if i in numeric else ''}>{v}</{tag}>" for i, v in enumerate(values)
        )

    head = f"<thead><tr>{cells('th', header)}</tr></thead>" if header else ""
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    attr = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{attr}>{head}<tbody>{body}</tbody></table>"


def facts(pairs):
    """(label, already-escaped HTML value) pairs as a table, None values left out; more than
    eight are shown as two tables side by side."""
    rows = [f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs if v is not None]
    if len(rows) <= 8:
        return f'<table class="facts"><tbody>{"".join(rows)}</tbody></table>'
    half = (len(rows) + 1) // 2
    return (
        '<div class="facts-pair">'
        f'<table class="facts"><tbody>{"".join(rows[:half])}</tbody></table>'
        f'<table class="facts"><tbody>{"".join(rows[half:])}</tbody></table></div>'
    )


def status_badge(status):
    """The status as a coloured label (`not run` when there is none)."""
    text = str(status) if status else "not run"
    return f'<span class="status status-{esc(text.replace(" ", "-"))}">{esc(text)}</span>'


def number(value, spec=".4f"):
    """A number for a table cell ('–' when absent)."""
    if value is None or isinstance(value, bool):
        return esc(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    return esc(format(value, spec)) if isinstance(value, (int, float)) else esc(value)


def plain(value):
    """A config value as short text: lists and mappings as compact JSON, floats with %g."""
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return "null" if value is None else str(value)
