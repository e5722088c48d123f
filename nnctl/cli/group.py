"""The nnctl command group: every error as one line on stderr with its exit code, and the
options several commands share (--threads, --progress, --no-report)."""

import logging
import sys
from contextlib import nullcontext
from pathlib import Path

import click

from nnctl import __version__, signals
from nnctl.errors import NnctlError

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


def fmt(value, spec=".4f"):
    return "-" if value is None else format(value, spec)


def progress_context(progress):
    """Log lines go through tqdm while a bar is shown, so they do not break it."""
    if not progress:
        return nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm(loggers=[log])


DIR = click.Path(file_okay=False, path_type=Path)
NO_REPORT = click.option(
    "--no-report", is_flag=True, help="Do not write report.html into the folder at the end."
)


def auto_report(folder, skip):
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
