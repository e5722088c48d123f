"""The listing `nnctl runs` shows: one row per run or sweep folder in a runs folder, with
the hyperparameters that tell the runs apart, filters, and the per-epoch history in long form.
"""

from pathlib import Path

from nnctl.config import dotted_items, parse_override, schema_fields, suggest
from nnctl.errors import ConfigError, RunError
from nnctl.runs.folder import RunFolder, effective_status
from nnctl.runs.sweep_folder import SweepFolder
from nnctl.status import Status

RUN_SORT_KEYS = {
    "val_acc": "best_val_acc",
    "test_acc": "test_acc",
    "time": "started",
    "name": "run",
}
DAMAGED = "damaged"  # a row whose summary.json cannot be read
HISTORY_COLUMNS = ["epoch", "lr", "train_acc", "val_acc", "loss", "seconds"]


def flat_config(config):
    """{dotted key: value} of a validated config, without its name and sweep block (they do
    not change what a run trains)."""
    flat = dotted_items(config.model_dump(mode="json"))
    return {k: v for k, v in flat.items() if k != "name" and not k.startswith("sweep")}


def _config_of(folder, sweep):
    """The flat config a row shows: a run's own; a sweep's best trial's (its result), else
    the sweep's base config. {} when it cannot be read (the row still lists)."""
    try:
        if sweep:
            try:
                return flat_config(RunFolder(folder.best()).read_config())
            except RunError:
                pass
        return flat_config(folder.read_config())
    except RunError:
        return {}


def _sweep_progress(folder, summary):
    """'trial k/N' for a running sweep: k trials have finished."""
    done = 0
    if folder.trials_dir.is_dir():
        for path in folder.trials_dir.iterdir():
            try:
                status = effective_status(path, RunFolder(path).read_summary())
            except RunError:
                continue
            done += status is not None and status.finished
    return f"trial {done}/{summary.get('trials', '?')}"


def _row(path):
    sweep = SweepFolder.is_sweep(path)
    folder = SweepFolder(path) if sweep else RunFolder(path)
    if not folder.summary_path.is_file():
        return None
    try:
        summary = folder.read_summary()
        status = effective_status(path, summary)
    except RunError:
        summary, status = {}, DAMAGED
    config = _config_of(folder, sweep)
    progress = None
    if status is Status.RUNNING:
        if sweep:
            progress = _sweep_progress(folder, summary)
        elif summary.get("total_epochs"):
            progress = f"epoch {summary.get('epochs') or 0}/{summary['total_epochs']}"
    return {
        "run": path.name,
        "path": path,
        "kind": "sweep" if sweep else "run",
        "status": None if status is None else str(status),
        "progress": progress,
        "dataset": config.get("data.dataset"),
        "model": config.get("model.type", summary.get("model")),
        "best_val_acc": summary.get("best_val_acc"),
        "test_acc": summary.get("test_acc"),
        "epochs": _count(summary.get("epochs")),
        "total_epochs": _count(summary.get("total_epochs")),
        "seconds": summary.get("seconds"),
        "started": summary.get("started") or 0,
        "best_trial": summary.get("best_trial"),
        "trials": summary.get("trials"),
        "config": config,
    }


def _count(value):
    """An epoch count from a summary (a sweep's summary may keep other kinds of record)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_where(texts):
    """[(dotted key, value)] from 'KEY=VALUE' filters (values read as YAML, like overrides);
    ConfigError for a malformed filter or a key no config has, with a did-you-mean."""
    known = {dotted for dotted, _ in schema_fields()}
    filters = []
    for text in texts:
        key, value = parse_override(text)
        if key not in known:
            parent, _, last = key.rpartition(".")
            hint = suggest(parent, last)
            raise ConfigError(
                f"--where {text}: {key} is not a config key"
                + (f"; did you mean {' or '.join(hint)}?" if hint else "")
            )
        filters.append((key, value))
    return filters


def _matches(row, filters):
    return all(key in row["config"] and row["config"][key] == value for key, value in filters)


def list_runs(runs_dir, sort="time", top=None, status=(), where=()):
    """One row per run or sweep folder in runs_dir, sorted by `sort` (val_acc and test_acc
    best first, time newest first, name A-Z).

    A row has run, path, kind (run | sweep), status (`stale` for a killed process, `damaged`
    for an unreadable summary), progress ('epoch 7/15' or 'trial 3/27' while running),
    dataset, model, best_val_acc, test_acc, epochs, total_epochs, seconds, started,
    best_trial, trials, and config: the flat config (a sweep shows its best trial's).
    status keeps the rows with one of the given statuses; where is [(dotted key, value)]
    (parse_where) that every kept row's config matches; top keeps the first N after that.
    """
    if sort not in RUN_SORT_KEYS:
        raise RunError(f"cannot sort by {sort!r}; valid: {', '.join(RUN_SORT_KEYS)}")
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunError(f"runs folder {runs_dir} does not exist")
    rows = []
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        row = _row(path)
        if row is None or (status and row["status"] not in status):
            continue
        if _matches(row, where):
            rows.append(row)
    key = RUN_SORT_KEYS[sort]
    descending = sort != "name"
    missing = float("-inf") if descending else ""
    rows.sort(key=lambda r: missing if r[key] is None else r[key], reverse=descending)
    return rows[:top] if top else rows


def varying_keys(configs):
    """The dotted keys whose values are not the same in every flat config (a key missing from
    some counts as differing), in the order they first appear."""
    configs = [c for c in configs if c]
    keys = list(dict.fromkeys(k for c in configs for k in c))
    return [k for k in keys if len({repr(c.get(k, "<absent>")) for c in configs}) > 1]


def _trial_rows(row):
    """One listing row per trial folder of a sweep row: run is '<sweep>/trials/NNN'."""
    folder = SweepFolder(row["path"])
    trials = []
    if folder.trials_dir.is_dir():
        for path in sorted(p for p in folder.trials_dir.iterdir() if p.is_dir()):
            trial = RunFolder(path)
            status = effective_status(path, trial.read_summary())
            try:
                config = flat_config(trial.read_config())
            except RunError:
                config = {}
            trials.append(
                {
                    "run": f"{row['run']}/trials/{path.name}",
                    "path": path,
                    "status": None if status is None else str(status),
                    "config": config,
                }
            )
    return trials


def epoch_rows(rows):
    """(columns, records): the per-epoch history of every listed run, and of every trial of
    a listed sweep, in long form: one record per run and epoch with run, status, the
    hyperparameters that vary across them, and epoch, lr, train_acc, val_acc, loss, seconds.
    RunError naming a history.csv that is damaged."""
    runs = []
    for row in rows:
        runs.extend(_trial_rows(row) if row["kind"] == "sweep" else [row])
    keys = varying_keys(r["config"] for r in runs)
    records = []
    for run in runs:
        for epoch in RunFolder(run["path"]).read_history():
            record = {"run": run["run"], "status": run["status"]}
            record.update({k: run["config"].get(k) for k in keys})
            record.update({k: epoch.get(k) for k in HISTORY_COLUMNS})
            if record["epoch"] is not None:
                record["epoch"] = int(record["epoch"])
            records.append(record)
    return ["run", "status", *keys, *HISTORY_COLUMNS], records
