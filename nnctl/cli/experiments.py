"""Commands that compute: train, sweep, eval, viz-weights, gradcheck, predict, lr-find."""

import json
import sys
from pathlib import Path

import click

from nnctl import console
from nnctl.cli.group import (
    DIR,
    NO_REPORT,
    PROGRESS,
    THREADS,
    auto_report,
    fmt,
    main,
    progress_context,
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
    with progress_context(progress):
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
        click.echo(f"k = {result.extra.get('k')}  val acc {fmt(result.val_acc)}")
    else:
        metric = result.metric
        click.echo(
            f"train {metric} {fmt(result.train_acc)}  val {metric} {fmt(result.val_acc)}  "
            f"best val {metric} {fmt(result.best_val_acc)}  "
            f"({result.epochs} epochs, {result.seconds:.1f}s)"
        )
    auto_report(result.run_dir, no_report)
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
    with progress_context(progress):
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
    auto_report(result.folder, no_report)
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
            click.echo(f"  {name:<{width}}  {fmt(acc)}  ({count} examples)")
    for plot in result.plots:
        click.echo(f"wrote {plot}")
    auto_report(result.run_dir, no_report)


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
    with progress_context(progress):
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
