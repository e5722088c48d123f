"""The nnctl command line: parse, delegate, report. No logic a test would need lives here."""

import sys

import click

from nnctl import __version__
from nnctl.errors import NnctlError


class _Group(click.Group):
    """Turns nnctl's own errors into one line on stderr and their exit code (--debug: traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NnctlError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {err}", err=True)
            sys.exit(err.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nnctl")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx, debug):
    """nnctl: neural-network experiments in NumPy, from a YAML file to a run folder."""
    ctx.obj = {"debug": debug}
