"""MLflow runs, written through MLflow's own client (the optional extra nnctl[mlflow]).

A run folder becomes one MLflow run; a sweep folder a parent run (its config, results and
plots) with one nested run per trial. Each MLflow run holds

    params    the resolved config, flattened to dotted keys (lists as JSON text)
    metrics   step/loss per update, epoch/<column> per epoch, the final results (see
              nnctl.export.source), each with its step and the wall time it was recorded at
    tags      nnctl.run_id (the folder's name; a trial's <sweep>/trials/NNN), nnctl.kind,
              nnctl.status, nnctl.seed, nnctl.folder, mlflow.source.git.commit
    artifacts config.yaml, summary.json, history.csv, eval.json, model.npz, plots/*.png
              (a sweep: config.yaml, sweep.yaml, summary.json, results.csv, plots/)

Exporting again finds the runs by their nnctl.run_id tag and updates them: new metric values
are added, ones MLflow already has are not logged twice, tags, artifacts and the status are
brought up to date.
"""

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

from nnctl.errors import ExportError
from nnctl.export.source import read_source

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow's own default store, in this folder
RUN_ID_TAG = "nnctl.run_id"
PARENT_TAG = "mlflow.parentRunId"  # how MLflow nests a run under another
# A run's status in nnctl -> MLflow's RunStatus.
STATUS = {
    "running": "RUNNING",
    "completed": "FINISHED",
    "stopped": "KILLED",  # ended early by a sweep's scheduler
    "interrupted": "KILLED",
    "stale": "KILLED",  # its process was killed
    "diverged": "FAILED",
    "failed": "FAILED",
}
INSTALL = "pip install 'nnctl[mlflow]'"
PARAMS_PER_CALL = 100  # MLflow's limits for one log_batch
METRICS_PER_CALL = 1000


@dataclass
class MlflowExport:
    """Where the export went: the experiment and, per nnctl run id, (MLflow run id, created)."""

    tracking_uri: str
    experiment: str
    experiment_id: str
    runs: dict = field(default_factory=dict)


def export_mlflow(path, tracking_uri=None, experiment=None):
    """Log the run or sweep folder `path` to the MLflow tracking store at tracking_uri (None:
    DEFAULT_TRACKING_URI), in the experiment `experiment` (default: the config's name). The
    folder is read and checked first (RunError when damaged); ExportError when MLflow is
    absent or refuses the export. Returns MlflowExport."""
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ExportError(f"nnctl export mlflow needs MLflow: {INSTALL}") from None
    tracking_uri = tracking_uri or DEFAULT_TRACKING_URI
    sweep, runs = read_source(path)
    top = sweep or runs[0]
    name = experiment or str(top.params.get("name") or "nnctl")
    try:
        with _mlflow_logs_quiet():
            client = MlflowClient(tracking_uri=tracking_uri)
            experiment_id = _experiment_id(client, name)
            result = MlflowExport(tracking_uri, name, experiment_id)
            parent = None
            if sweep is not None:
                parent = _upsert(client, experiment_id, sweep, "sweep", {}, result)
            for run in runs:
                extra = {} if parent is None else {PARENT_TAG: parent}
                _upsert(client, experiment_id, run, run.kind, extra, result)
    except MlflowException as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"MLflow at {tracking_uri} refused the export: {message}") from None
    return result


def _experiment_id(client, name):
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage != "active":
        raise ExportError(
            f"the MLflow experiment {name!r} is deleted; restore it or give another --experiment"
        )
    return found.experiment_id


def _upsert(client, experiment_id, item, kind, extra_tags, result):
    """Create or update the MLflow run of item (an ExportedRun or ExportedSweep); returns its
    MLflow run id."""
    from mlflow.entities import Metric, Param, RunTag

    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{_quoted(item.run_id)}'"
    )
    tags = {**_tags(item, kind), **extra_tags}
    if found:
        run = found[0]
    else:
        run = client.create_run(
            experiment_id, start_time=_ms(item.started), tags=tags, run_name=item.name
        )
    run_id = run.info.run_id
    result.runs[item.run_id] = (run_id, not found)

    params = {k: _param_text(v) for k, v in item.params.items()}
    logged = run.data.params
    changed = sorted(k for k in params if k in logged and logged[k] != params[k])
    if changed:
        raise ExportError(
            f"MLflow run {run_id} of {item.run_id} has other values for {', '.join(changed)}; "
            "it was logged from another folder of the same name"
        )
    new_params = [Param(k, v) for k, v in params.items() if k not in logged]
    metrics = [Metric(s.tag, s.value, _ms(s.time), s.step) for s in item.scalars]
    when = _ms(item.finished or item.started)
    step = int(item.final.get("epochs", 0))
    metrics += [Metric(k, v, when, step) for k, v in item.final.items()]
    metrics = _not_logged(client, run_id, metrics)
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    for start in range(0, len(new_params), PARAMS_PER_CALL):
        client.log_batch(run_id, params=new_params[start : start + PARAMS_PER_CALL])
    for start in range(0, len(metrics), METRICS_PER_CALL):
        client.log_batch(run_id, metrics=metrics[start : start + METRICS_PER_CALL])
    for path in item.artifacts:
        client.log_artifact(run_id, str(path), "plots" if path.parent.name == "plots" else None)
    status = STATUS.get(item.status or "running", "RUNNING")
    if status == "RUNNING":
        client.update_run(run_id, status=status)
    else:
        client.set_terminated(run_id, status, end_time=_ms(item.finished or item.started))
    return run_id


def _not_logged(client, run_id, metrics):
    """The metrics MLflow does not have yet (same key, step, time and value)."""
    have = {}
    for key in {m.key for m in metrics}:
        have[key] = {(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)}
    return [m for m in metrics if (m.step, m.timestamp, m.value) not in have[m.key]]


def _tags(item, kind):
    summary = item.summary
    tags = {
        RUN_ID_TAG: item.run_id,
        "nnctl.kind": kind,
        "nnctl.status": item.status or "unknown",
        "nnctl.folder": str(item.path),
    }
    if summary.get("seed") is not None:
        tags["nnctl.seed"] = str(summary["seed"])
    if summary.get("git_commit"):
        tags["mlflow.source.git.commit"] = summary["git_commit"]
        tags["nnctl.git_dirty"] = json.dumps(bool(summary.get("git_dirty")))
    if summary.get("nnctl"):
        tags["nnctl.version"] = str(summary["nnctl"])
    return tags


def _param_text(value):
    """A config value as MLflow keeps params (text): strings as they are, the rest as JSON
    (null, true, 0.001, [100, 50])."""
    return value if isinstance(value, str) else json.dumps(value)


def _ms(seconds):
    """Seconds since 1970 -> MLflow's integer milliseconds (None stays None: MLflow's now)."""
    return None if seconds is None else int(round(seconds * 1000))


def _quoted(text):
    return text.replace("\\", "\\\\").replace("'", "\\'")


@contextmanager
def _mlflow_logs_quiet():
    """MLflow and its database migrations log INFO lines to the console (creating tables, ...);
    the command prints its own one-line result."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
