"""The nnctl command line: parse, delegate, report. No logic a test would need lives here.

Exit codes: 0 success; 1 the experiment failed or diverged; 2 the user's input was wrong
(including a damaged file the user pointed at); 130 interrupted (Ctrl-C or SIGTERM; a run
leaves a checkpoint to resume from). Every failure is one line on stderr; --debug shows the
traceback instead, and a run's own failures keep theirs in its log.txt.
"""

import json
import logging
import sys
from contextlib import nullcontext
from pathlib import Path

import click

from nnctl import __version__, console, signals
from nnctl.errors import NnctlError
from nnctl.status import Status

log = logging.getLogger("nnctl")


class _Group(click.Group):
    """Turns every error into one line on stderr and its exit code (--debug: traceback);
    SIGTERM stops a command like Ctrl-C does."""

    def invoke(self, ctx):
        debug = bool(ctx.obj and ctx.obj.get("debug")) or "--debug" in sys.argv[1:2]
        try:
            with signals.terminate_as_interrupt():
                return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except NnctlError as err:
            if debug:
                raise
            lines = str(err).splitlines() or [type(err).__name__]
            click.echo(f"error: {lines[0]}", err=True)
            for line in lines[1:]:  # a config error lists every problem, one per line
                click.echo(f"error: {line}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as err:
            if debug:
                raise
            click.echo(
                f"error: internal error ({type(err).__name__}: {err}); "
                "run with --debug for the traceback",
                err=True,
            )
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nnctl")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx, debug):
    """nnctl: neural-network experiments in NumPy, from a YAML file to a run folder."""
    ctx.obj = {"debug": debug}


def _fmt(value, spec=".4f"):
    return "-" if value is None else format(value, spec)


def _progress_context(progress):
    """Log lines go through tqdm while a bar is shown, so they do not break it."""
    if not progress:
        return nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm(loggers=[log])


DIR = click.Path(file_okay=False, path_type=Path)
NO_REPORT = click.option(
    "--no-report", is_flag=True, help="Do not write report.html into the folder at the end."
)


def _auto_report(folder, skip):
    """report.html of folder after train, sweep or eval. A failure is a warning: it never
    changes the command's outcome (the run's status is recorded by then)."""
    if skip:
        return
    from nnctl.report import write_report

    try:
        path = write_report(folder)
    except Exception as err:  # a report must not change what the run did or its exit code
        click.echo(f"warning: no report written ({type(err).__name__}: {err})", err=True)
    else:
        click.echo(f"report: {path}")


PROGRESS = click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars (default: only when stderr is a terminal).",
)


class _Threads(click.ParamType):
    """--threads: 'auto' or a count (parsed by nnctl.training.threads.parse_threads)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        from nnctl.training.threads import parse_threads

        try:
            return parse_threads(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


THREADS = click.option(
    "--threads",
    type=_Threads(),
    metavar="N|auto",
    default="auto",
    envvar="NNCTL_THREADS",
    show_default=True,
    show_envvar=True,
    help="BLAS threads: a count, or auto (the count fastest now, timed on the work itself "
    "and checked again as training goes; a sweep's workers share the cores).",
)


@main.command()
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option(
    "--runs-dir", type=DIR, default=Path("runs"), show_default=True, help="Where run folders go."
)
@click.option("--data-dir", type=DIR, help="Where datasets are looked for (after data.root).")
@click.option("--name", help="The run's name (overrides the config's name).")
@click.option("--seed", type=int, help="The run's seed (overrides the config's seed).")
@click.option("--resume", type=DIR, help="Continue an interrupted run folder from its checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bars or per-epoch logs.")
@PROGRESS
@click.option("--print-config", is_flag=True, help="Print the resolved config and exit.")
@NO_REPORT
@THREADS
def train(
    config_file,
    overrides,
    runs_dir,
    data_dir,
    name,
    seed,
    resume,
    quiet,
    progress,
    print_config,
    no_report,
    threads,
):
    """Train the experiment CONFIG_FILE, with optional KEY=VALUE overrides.

    Example: nnctl train configs/cifar10_fc.yaml train.learning_rate=5e-4 model.dropout=0.5
    """
    from nnctl.config import load_config, to_yaml
    from nnctl.experiment import run_experiment
    from nnctl.training.threads import ThreadSetting

    overrides = list(overrides)
    if name is not None:
        overrides.append(f"name={json.dumps(name)}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    config = load_config(config_file, overrides)
    if print_config:
        click.echo(to_yaml(config), nl=False)
        return
    console.setup(quiet)
    progress = console.show_progress(progress) and not quiet
    with _progress_context(progress):
        result = run_experiment(
            config,
            runs_dir,
            data_dir=data_dir,
            base_dir=config_file.parent,
            quiet=quiet,
            progress=progress,
            resume=resume,
            threads=ThreadSetting(threads),
        )
    click.echo(f"run folder: {result.run_dir}")
    if config.model.type == "knn":
        click.echo(f"k = {result.extra.get('k')}  val acc {_fmt(result.val_acc)}")
    else:
        metric = result.metric
        click.echo(
            f"train {metric} {_fmt(result.train_acc)}  val {metric} {_fmt(result.val_acc)}  "
            f"best val {metric} {_fmt(result.best_val_acc)}  "
            f"({result.epochs} epochs, {result.seconds:.1f}s)"
        )
    _auto_report(result.run_dir, no_report)
    if result.status == "diverged":
        click.echo(
            "error: the run diverged (its loss became NaN or exploded); "
            "try a smaller learning rate",
            err=True,
        )
        sys.exit(1)
    if result.status == "interrupted":
        click.echo(
            f"interrupted: resume with  nnctl train {config_file} --resume {result.run_dir}",
            err=True,
        )
        sys.exit(130)


@main.command()
@click.argument("config_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option(
    "--workers", type=click.IntRange(min=1), help="Trials at once (default: the number of cores)."
)
@click.option(
    "--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True
)
@click.option(
    "--scheduler", help="Dask scheduler address (default: a LocalCluster on this machine)."
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="",
    help="Continue a sweep folder (without a value: this config's newest sweep).",
)
@click.option("--retry-failed", is_flag=True, help="With --resume: run failed trials again.")
@click.option(
    "--extend",
    type=DIR,
    help="An earlier sweep folder: its finished trials with the same config are reused, only "
    "the new points run.",
)
@click.option(
    "--runs-dir", type=DIR, default=Path("runs"), show_default=True, help="Where sweep folders go."
)
@click.option("--data-dir", type=DIR, help="Where datasets are looked for (after data.root).")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed trial.")
@click.option("--dry-run", is_flag=True, help="Print the trials and exit.")
@click.option("--quiet", is_flag=True, help="No progress bar or logs.")
@PROGRESS
@NO_REPORT
@THREADS
def sweep(
    config_file,
    overrides,
    workers,
    executor,
    scheduler,
    resume,
    retry_failed,
    extend,
    runs_dir,
    data_dir,
    fail_fast,
    dry_run,
    quiet,
    progress,
    no_report,
    threads,
):
    """Run every trial of CONFIG_FILE's sweep: block (grid or random search), in parallel.
    An override with a comma-separated list of values sweeps that key (a grid, without a
    sweep: block): train.learning_rate=1e-3,3e-3 model.reg=0,1e-3.

    Example: nnctl sweep configs/cifar10_twolayer.yaml --workers 2
    """
    from nnctl.config import load_config
    from nnctl.sweep import expand, find_sweep, run_sweep
    from nnctl.sweep.multirun import split_overrides
    from nnctl.sweep.scheduler import effort_lines
    from nnctl.sweep.space import describe
    from nnctl.sweep.tpe import uses_tpe

    if retry_failed and resume is None:
        raise click.UsageError("--retry-failed goes with --resume")
    if extend is not None and resume is not None:
        raise click.UsageError("--extend starts a new sweep; it does not go with --resume")
    if config_file is None:
        if not resume:
            raise click.UsageError("give CONFIG_FILE, or --resume SWEEP_DIR")
        config_file = Path(resume) / "config.yaml"
    overrides, multirun = split_overrides(overrides)
    config = load_config(config_file, overrides, sweep_params=multirun)
    if resume == "":
        resume = find_sweep(runs_dir, config.name)
    if dry_run:
        trials = expand(config)
        if uses_tpe(config):  # its points are proposed as results come in
            click.echo(f"up to {config.sweep.trials} trials, proposed by Optuna's TPE as it runs")
            return
        for trial in trials:
            click.echo(f"{trial.number:>4}  seed={trial.config.seed}  {describe(trial.params)}")
        click.echo(f"{len(trials)} trials")
        return
    console.setup(quiet)
    progress = console.show_progress(progress) and not quiet
    with _progress_context(progress):
        result = run_sweep(
            config,
            runs_dir,
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            resume=resume,
            retry_failed=retry_failed,
            extend=extend,
            fail_fast=fail_fast,
            data_dir=data_dir,
            base_dir=config_file.parent,
            quiet=quiet,
            progress=progress,
            threads=threads,
        )
    click.echo(f"sweep folder: {result.folder}")
    _auto_report(result.folder, no_report)
    click.echo(f"{'rank':>4}  {config.sweep.metric:>16}  {'trials':<10} params")
    for rank, point in enumerate(result.points[:5], start=1):
        metric = "-" if point["metric"] is None else f"{point['metric']:.4f}"
        if point["n"] > 1:  # repeats: their mean and std
            metric += f" ± {point['std']:.4f}"
        trials = ",".join(map(str, point["trials"]))
        click.echo(f"{rank:>4}  {metric:>16}  {trials:<10} {describe(point['params'])}")
    counts = {}
    for row in result.rows:
        counts[row["status"] or "not run"] = counts.get(row["status"] or "not run", 0) + 1
    described = ", ".join(f"{v} {k}" for k, v in counts.items())
    click.echo(f"{len(result.rows)} trials: {described}")
    for line in effort_lines(result.effort, config.sweep.metric):
        click.echo(line)
    trouble = {k: v for k, v in counts.items() if k not in ("completed", "stopped")}
    if trouble:
        described = ", ".join(f"{v} {k}" for k, v in trouble.items())
        click.echo(f"{described} of {len(result.rows)} trials (see their log.txt)", err=True)
    if result.best is None:
        click.echo("error: no trial finished with a result", err=True)
        sys.exit(1)


@main.command(name="eval")
@click.argument("run_dir", type=DIR)
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True)
@click.option("--data-dir", type=DIR, help="Where datasets are looked for (after data.root).")
@NO_REPORT
@THREADS
def eval_(run_dir, split, data_dir, no_report, threads):
    """Score a saved run's model on the test (or validation) split.

    RUN_DIR may be a sweep folder: its best trial is scored."""
    from nnctl.experiment import evaluate_run
    from nnctl.training.threads import ThreadSetting

    result = evaluate_run(run_dir, split=split, data_dir=data_dir, threads=ThreadSetting(threads))
    if result.note:
        click.echo(f"note: {result.note}", err=True)
    if result.accuracy is None:  # an autoencoder: what it measured, by name
        click.echo(f"{result.run_dir}: {split}")
        for name, value in result.metrics.items():
            click.echo(f"  {name.replace('_', ' ')}  {value:.4g}")
    else:
        click.echo(f"{result.run_dir}: {split} accuracy {result.accuracy:.4f}")
        width = max(len(n) for n in result.class_names)
        for name, acc in result.per_class.items():
            count = int(result.confusion[result.class_names.index(name)].sum())
            click.echo(f"  {name:<{width}}  {_fmt(acc)}  ({count} examples)")
    for plot in result.plots:
        click.echo(f"wrote {plot}")
    _auto_report(result.run_dir, no_report)


@main.command(name="viz-weights")
@click.argument("run_dir", type=DIR)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="PNG to write.")
@click.option(
    "--layer", type=click.IntRange(min=1), default=1, show_default=True, help="Which weight matrix."
)
def viz_weights(run_dir, out, layer):
    """Picture a saved run's learned weights (image tiles, class templates or a heat map)."""
    from nnctl.experiment import picture_weights

    click.echo(f"wrote {picture_weights(run_dir, out, layer)}")


@main.command()
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option("--data-dir", type=DIR, help="Where datasets are looked for (after data.root).")
@click.option(
    "--threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-5,
    show_default=True,
    help="Largest relative error allowed (entries too small to measure one are held to a "
    "stated absolute error instead; the criterion is printed first).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Examples in the batch.",
)
@THREADS
def gradcheck(config_file, overrides, data_dir, threshold, batch, threads):
    """Check the configured network's gradients numerically (float64, a tiny batch)."""
    from nnctl.config import load_config
    from nnctl.diagnostics import check_config_gradients
    from nnctl.training.threads import ThreadSetting

    config = load_config(config_file, overrides)
    with ThreadSetting(threads).applied():
        criterion, rows = check_config_gradients(
            config, threshold=threshold, data_dir=data_dir, batch=batch
        )
    for line in criterion.describe():
        click.echo(line)

    def cell(value):
        return "-" if value is None else f"{value:.2e}"

    click.echo(f"{'param':<8} {'shape':<14} {'checked':>7}  {'rel error':>10}  {'abs error':>10}")
    for row in rows:
        shape = "x".join(map(str, row.shape))
        click.echo(
            f"{row.name:<8} {shape:<14} {row.checked:>7}  "
            f"{cell(row.rel_error):>10}  {cell(row.abs_error):>10}  {'ok' if row.ok else 'FAIL'}"
        )
    failed = [row.name for row in rows if not row.ok]
    if failed:
        click.echo(
            f"error: gradients of {', '.join(failed)} differ from the numerical ones "
            "beyond the criterion above",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"all {len(rows)} gradients agree (rel error <= {criterion.threshold:g}, "
        f"abs error <= {criterion.atol:g})"
    )


@main.group()
def datasets():
    """List the datasets, or download one."""


@datasets.command(name="list")
@click.option("--data-dir", type=DIR, help="Where datasets are looked for.")
def datasets_list(data_dir):
    """Each dataset: where it is looked for, whether it is there, its size."""
    from nnctl.datasets import dataset_table

    for row in dataset_table(data_dir):
        present = {True: "present", False: "missing", None: "-"}[row["present"]]
        size = "" if not row["bytes"] else f"{row['bytes'] / 1e6:.1f} MB"
        click.echo(f"{row['name']:<14} {present:<8} {size:>9}  {row['location']}")


@datasets.command(name="download")
@click.argument("name")
@click.option(
    "--data-dir", type=DIR, help="Where to put it (default: $NNCTL_DATA_DIR or ~/.cache/nnctl)."
)
def datasets_download(name, data_dir):
    """Fetch dataset NAME from its canonical source and verify its checksum."""
    from nnctl.datasets import download
    from nnctl.datasets.source import data_root

    root = data_root(None, data_dir)
    for path in download.download(name, root):
        click.echo(f"ok {path}")


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
            + [_fmt(r["best_val_acc"]), _fmt(r["test_acc"]), epochs, seconds, note]
        )
    n = len(header)
    _echo_table(header, table, right={n - 5, n - 4, n - 3, n - 2})


@main.group(name="config")
def config_group():
    """Show what an experiment file may hold."""


@config_group.command(name="schema")
@click.option("--markdown", is_flag=True, help="Markdown (as in docs/config.md), not plain text.")
def config_schema(markdown):
    """Every key of an experiment file: type, allowed values, default and meaning."""
    from nnctl.configdoc import render_markdown, render_text

    click.echo(render_markdown() if markdown else render_text(), nl=False)


@main.command()
@click.argument("path", required=False, default="experiment.yaml", type=click.Path(path_type=Path))
@click.option(
    "--template",
    default="mlp",
    show_default=True,
    help="The starter: mlp, knn, linear (SVM/softmax) or features (CIFAR-10 HOG + colour).",
)
def init(path, template):
    """Write a commented starter experiment file to PATH (default experiment.yaml); an
    existing file is never overwritten."""
    from nnctl.configdoc import write_template

    path = write_template(template, path)
    click.echo(f"wrote {path}; train it with: nnctl train {path}")


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


@main.command()
@click.argument("run_dir", type=DIR)
@click.argument("source", metavar="INPUT")
@click.option(
    "--out",
    default="predictions.csv",
    show_default=True,
    help="The CSV to write ('-': standard output).",
)
@click.option("--resize", is_flag=True, help="Scale images to the model's image size.")
@click.option("--data-dir", type=DIR, help="Where datasets are looked for (after data.root).")
@THREADS
def predict(run_dir, source, out, resize, data_dir, threads):
    """Predict the classes of INPUT with the model saved in RUN_DIR (a sweep: its best trial).

    INPUT: an .npz with X (raw examples, like the run's data), a folder of PNG/JPEG images,
    split:test or split:val (the run's own data, as eval loads it), or dataset:NAME (the
    test split of dataset NAME). Writes index, class, class_name[, label], p_<class>..."""
    from nnctl.experiment.predict import predict as run_predict
    from nnctl.experiment.predict import predictions_csv, write_predictions
    from nnctl.training.threads import ThreadSetting

    with ThreadSetting(threads).applied():
        predictions = run_predict(run_dir, source, data_dir=data_dir, resize=resize)
    if predictions.note:
        click.echo(f"note: {predictions.note}", err=True)
    if out == "-":
        click.echo(predictions_csv(predictions), nl=False)
    else:
        click.echo(f"wrote {write_predictions(predictions, out)}", err=True)
    count = len(predictions.predicted)
    accuracy = predictions.accuracy
    line = f"{count} examples" + ("" if accuracy is None else f", accuracy {accuracy:.4f}")
    click.echo(line, err=True)


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
            shown = [_fmt(v) for v in values]
        else:
            shown = ["-" if v is None else str(v) for v in values]
        rows.append([what, *shown])
    _echo_table(["", *names], rows)
    if plot is not None:
        click.echo(f"wrote {plot_comparison(compared, plot, names)}")


@main.command(name="lr-find")
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option(
    "--runs-dir", type=DIR, default=Path("runs"), show_default=True, help="Where run folders go."
)
@click.option("--data-dir", type=DIR, help="Where datasets are looked for (after data.root).")
@click.option("--min-lr", type=float, default=1e-7, show_default=True, help="The first rate.")
@click.option("--max-lr", type=float, default=10.0, show_default=True, help="The last rate.")
@click.option(
    "--steps",
    type=click.IntRange(min=3),
    default=300,
    show_default=True,
    help="Updates from min-lr to max-lr (fewer if the loss explodes first).",
)
@click.option("--quiet", is_flag=True, help="No progress bars or logs.")
@PROGRESS
def lr_find(config_file, overrides, runs_dir, data_dir, min_lr, max_lr, steps, quiet, progress):
    """The learning-rate range test of CONFIG_FILE: train with an exponentially growing rate
    and write loss against rate (plots/lr_find.png) and a suggested rate into a run folder.

    Example: nnctl lr-find configs/cifar10_fc.yaml --steps 200
    """
    from nnctl.config import load_config
    from nnctl.experiment.lr_find import lr_find as range_test

    config = load_config(config_file, list(overrides))
    console.setup(quiet)
    progress = console.show_progress(progress) and not quiet
    with _progress_context(progress):
        result = range_test(
            config,
            runs_dir,
            data_dir=data_dir,
            base_dir=config_file.parent,
            progress=progress,
            min_lr=min_lr,
            max_lr=max_lr,
            steps=steps,
        )
    click.echo(f"run folder: {result.run_dir}")
    if result.status == "interrupted":
        click.echo("interrupted: the range test stopped early", err=True)
        sys.exit(130)
    found = result.extra
    if found.get("suggested_lr") is None:
        click.echo("no suggestion: the loss was not finite for long enough", err=True)
        sys.exit(1)
    click.echo(
        f"suggested learning rate {found['suggested_lr']:.3g}  (lowest loss at "
        f"{found['min_loss_lr']:.3g}, steepest descent at {found['steepest_lr']:.3g})"
    )
