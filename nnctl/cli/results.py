"""Commands for what runs left behind: runs (list, rm, gc), report, compare, export."""

import json
import sys
from pathlib import Path

import click

from nnctl.cli.group import DIR, fmt, main
from nnctl.status import Status

LISTED_STATUSES = [status.value for status in Status] + ["damaged"]


def _cell(value):
    """A config value in a CSV cell: lists and mappings as JSON."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _write_csv(columns, rows):
    import csv

    writer = csv.DictWriter(
        sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)


def _echo_table(header, rows, right=()):
    """Columns padded to their widest cell; those whose index is in `right` right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            f"{str(v):>{w}}" if i in right else f"{str(v):<{w}}"
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())


def _short_keys(keys, taken=()):
    """Column headings for dotted keys: the last part, unless another key or a heading in
    `taken` has it too."""
    last = [k.rpartition(".")[2] for k in keys]
    return [
        part if last.count(part) == 1 and part not in taken else key
        for key, part in zip(keys, last, strict=True)
    ]


def _plain(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else value


@main.group(name="runs", invoke_without_command=True)
@click.option("--runs-dir", type=DIR, default=Path("runs"), show_default=True)
@click.option(
    "--sort",
    type=click.Choice(["time", "val_acc", "test_acc", "name"]),
    default="time",
    show_default=True,
)
@click.option("--top", type=click.IntRange(min=1), help="Show only the first N.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(LISTED_STATUSES),
    help="Only runs with this status (repeatable).",
)
@click.option(
    "--where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only runs whose config has KEY=VALUE, e.g. train.optimizer=adam (repeatable; "
    "a sweep is matched by its best trial).",
)
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated output for scripts.")
@click.option(
    "--per-epoch",
    is_flag=True,
    help="With --csv: one row per run and epoch (every trial of a sweep too).",
)
@click.pass_context
def runs_(ctx, runs_dir, sort, top, statuses, where, as_csv, per_epoch):
    """A table of the runs and sweeps in a runs folder, with the hyperparameters that differ
    between them (`stale`: its process was killed; running ones show their epoch).

    `nnctl runs rm` deletes runs, `nnctl runs gc` prunes what finished runs no longer need."""
    if ctx.invoked_subcommand is not None:
        return
    from nnctl.runs import epoch_rows, list_runs, parse_where, varying_keys

    if per_epoch and not as_csv:
        raise click.UsageError("--per-epoch goes with --csv")
    rows = list_runs(runs_dir, sort=sort, top=top, status=statuses, where=parse_where(where))
    if per_epoch:
        columns, records = epoch_rows(rows)
        _write_csv(columns, [{k: _cell(v) for k, v in r.items()} for r in records])
        return
    keys = varying_keys(r["config"] for r in rows)
    if as_csv:
        columns = [
            "run", "kind", "status", "progress", "dataset", "model", *keys, "best_val_acc",
            "test_acc", "epochs", "total_epochs", "seconds", "best_trial",
        ]  # fmt: skip
        _write_csv(columns, [{**r, **{k: _cell(r["config"].get(k)) for k in keys}} for r in rows])
        return
    if not rows:
        click.echo(f"no runs in {runs_dir}" + (" match" if statuses or where else ""))
        return
    fixed = ["run", "status", "data", "model", "best val", "test", "epochs", "time"]
    header = [*fixed[:4], *_short_keys(keys, taken=fixed), *fixed[4:], ""]
    table = []
    for r in rows:
        status = " ".join(filter(None, [r["status"] or "-", r["progress"]]))
        epochs = "-" if r["epochs"] is None else str(r["epochs"])
        if r["total_epochs"] and r["epochs"] is not None:
            epochs += f"/{r['total_epochs']}"
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.1f}s"
        note = ""
        if r["kind"] == "sweep":
            note = f"sweep of {r['trials']} trials" if r["trials"] else "sweep"
            note += f", best: trial {r['best_trial']}" if r["best_trial"] is not None else ""
        table.append(
            [r["run"], status, r["dataset"] or "-", r["model"] or "-"]
            + [_plain(r["config"].get(k)) for k in keys]
            + [fmt(r["best_val_acc"]), fmt(r["test_acc"]), epochs, seconds, note]
        )
    n = len(header)
    _echo_table(header, table, right={n - 5, n - 4, n - 3, n - 2})


@main.group(name="export")
def export_group():
    """Show runs and sweeps in TensorBoard or MLflow."""


@export_group.command(name="tensorboard")
@click.argument("run_dir", type=DIR)
@click.option(
    "--out",
    type=DIR,
    default=Path("tensorboard"),
    show_default=True,
    help="TensorBoard log folder; the run or sweep goes into OUT/<its folder name>.",
)
def export_tensorboard(run_dir, out):
    """Write RUN_DIR (a run or sweep folder) as TensorBoard event files: scalars, config,
    hyperparameters, weight picture; a sweep's trials become one HParams table."""
    from nnctl.export.tensorboard import export_tensorboard as export

    target, count = export(run_dir, out)
    click.echo(f"wrote {target} ({count} run{'' if count == 1 else 's'})")
    click.echo(f"view it with: tensorboard --logdir {out}")


@export_group.command(name="mlflow")
@click.argument("run_dir", type=DIR)
@click.option(
    "--tracking-uri", help="MLflow tracking URI.  [default: sqlite:///mlflow.db in this folder]"
)
@click.option("--experiment", help="MLflow experiment name.  [default: the config's name]")
def export_mlflow(run_dir, tracking_uri, experiment):
    """Log RUN_DIR (a run or sweep folder) to MLflow: params, metrics, tags, plots and the
    model; a sweep becomes a parent run with nested trials. Exporting again updates them."""
    from nnctl.export.mlflow import export_mlflow as export

    result = export(run_dir, tracking_uri, experiment)
    created = sum(1 for _, new in result.runs.values() if new)
    click.echo(
        f"{result.tracking_uri}: experiment {result.experiment!r}, "
        f"{created} run(s) created, {len(result.runs) - created} updated"
    )
    click.echo(f"view it with: mlflow ui --backend-store-uri {result.tracking_uri}")


def _size(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000


@runs_.command(name="rm")
@click.argument("run_dirs", nargs=-1, required=True, type=DIR)
@click.option("--yes", "-y", is_flag=True, help="Delete without asking.")
def runs_rm(run_dirs, yes):
    """Delete run or sweep folders RUN_DIRS (never one another process is using)."""
    from nnctl.runs.prune import carry_out, plan_rm

    removals = plan_rm(run_dirs)
    for removal in removals:
        click.echo(f"{removal.what:<5}  {removal.path}  ({_size(removal.size)})")
    total = _size(sum(r.size for r in removals))
    if not yes and not click.confirm(f"delete {len(removals)} folder(s), {total}?"):
        click.echo("nothing deleted")
        sys.exit(1)
    busy = carry_out(removals)
    for path in busy:
        click.echo(f"error: {path} was taken by another process; it was not deleted", err=True)
    click.echo(f"deleted {len(removals) - len(busy)} folder(s)")
    if busy:
        sys.exit(2)


@runs_.command(name="gc")
@click.option("--runs-dir", type=DIR, default=Path("runs"), show_default=True)
@click.option(
    "--keep-best",
    is_flag=True,
    help="Also delete the model of every finished sweep trial but the sweep's best.",
)
@click.option("--yes", "-y", is_flag=True, help="Delete without asking.")
def runs_gc(runs_dir, keep_best, yes):
    """Free disk space: delete the checkpoints of completed, diverged and stopped runs and
    trials (they cannot be resumed) and the data sweeps stored for their workers. Runs in use
    are left alone; interrupted, failed and stale ones keep their checkpoint."""
    from nnctl.runs.prune import carry_out, plan_gc

    removals, busy = plan_gc(runs_dir, keep_best=keep_best)
    for path in busy:
        click.echo(f"skipped {path}: another process is using it", err=True)
    if not removals:
        click.echo("nothing to delete")
        return
    by_owner = {}
    for removal in removals:
        by_owner.setdefault(removal.owner, []).append(removal)
    for owner, items in by_owner.items():
        kinds = {}
        for item in items:
            kinds[item.what] = kinds.get(item.what, 0) + 1
        what = ", ".join(
            f"{n} {kind}{'s' if n > 1 and kind != 'data' else ''}" for kind, n in kinds.items()
        )
        click.echo(f"{owner.name}: {what} ({_size(sum(i.size for i in items))})")
    total = _size(sum(r.size for r in removals))
    if not yes and not click.confirm(f"delete {len(removals)} file(s) and folder(s), {total}?"):
        click.echo("nothing deleted")
        sys.exit(1)
    left = carry_out(removals)
    for path in left:
        click.echo(f"skipped {path}: another process took it", err=True)
    click.echo(f"freed {_size(sum(r.size for r in removals if r.owner not in left))}")


@main.command()
@click.argument("folder", type=DIR)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: FOLDER/report.html).",
)
@click.option("--open", "open_", is_flag=True, help="Open it in a web browser.")
def report(folder, out, open_):
    """Write an HTML report of a run or sweep FOLDER (a sweep's trials get theirs too): one
    self-contained file that opens offline, wherever the folder is copied."""
    from nnctl.report import write_report

    path = write_report(folder, out)
    click.echo(f"wrote {path}")
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=DIR)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also overlay their accuracy and loss curves in this PNG.",
)
def compare(run_dirs, plot):
    """What differs between runs (or trials of a sweep; a sweep means its best trial): the
    config keys that differ, side by side, then how each run did."""
    from nnctl.report.compare import compare_runs, plot_comparison

    compared = compare_runs(run_dirs)
    many = len(compared.labels) > 26
    names = [f"#{i + 1}" if many else chr(ord("A") + i) for i in range(len(compared.labels))]
    for name, label in zip(names, compared.labels, strict=True):
        click.echo(f"{name:<3} {label}")
    click.echo()
    differing = len(compared.differences)
    click.echo(f"config: {differing} of {compared.keys} keys differ")
    if differing:
        _echo_table(["", *names], [[k, *map(_plain, v)] for k, v in compared.differences])
    click.echo()
    rows = []
    for what, values in compared.results:
        if what in ("seconds", "seconds per epoch"):
            shown = ["-" if v is None else f"{v:.1f}s" for v in values]
        elif what in ("best val acc", "final train acc", "final val acc", "test acc"):
            shown = [fmt(v) for v in values]
        else:
            shown = ["-" if v is None else str(v) for v in values]
        rows.append([what, *shown])
    _echo_table(["", *names], rows)
    if plot is not None:
        click.echo(f"wrote {plot_comparison(compared, plot, names)}")
