"""What a run folder's files say, read without nnctl: the reference the exports are
compared with."""

import csv
import json

import yaml


def step_losses(run_dir):
    """[(step, loss, time)] from metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["time"]) for r in rows if "train_acc" not in r]


def epoch_times(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["epoch"]: r["time"] for r in rows if "train_acc" in r}


def history(run_dir):
    """{column: [(epoch, value)]} from history.csv (empty cells left out)."""
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for row in rows:
        for key, value in row.items():
            if key != "epoch" and value != "":
                columns.setdefault(key, []).append((int(row["epoch"]), float(value)))
    return columns


def summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def flat_config(run_dir):
    """config.yaml flattened to dotted keys (the sweep block left out), lists as JSON."""

    def walk(mapping, prefix):
        for key, value in mapping.items():
            if isinstance(value, dict):
                yield from walk(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", json.dumps(value) if isinstance(value, list) else value

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config.pop("sweep", None)
    return dict(walk(config, ""))
