"""Commands for what comes before a run: datasets (list, download), config schema, init."""

from pathlib import Path

import click

from nnctl.cli.group import DIR, main


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
