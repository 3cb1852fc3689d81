"""Where each kind of logger keeps a run, and how a resumed run continues the very same logger run, no step twice.

A run's checkpoints and ``config.yaml`` always live in its run folder, ``ROOT/version_N`` (``runs.py``), and
TensorBoard and CSV write there too. MLflow keeps its runs in a store of its own: a tracking server, or by default
a SQLite database beside the run folders (``lightning_logs/mlflow.db``). The run folder records its MLflow run in
``mlflow_run.json``, and the MLflow run is named after its folder and tagged with its path.

Lightning continues no logger run on resume: here TensorBoard gets its ``purge_step``, CSV's
``metrics.csv``, which Lightning's writer deletes when it opens a folder that is not empty, keeps its rows before the
checkpoint's step; an MLflow run, whose points cannot be deleted, keeps the points it has and is sent only later ones.
"""

import csv
import importlib.util
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger

from lit_rnn.base.class_paths import imported, known_logger
from lit_rnn.base.errors import ConfigError, summarize
from lit_rnn.base.private_apis import flat_settings
from lit_rnn.logs.outputs import IMAGES
from lit_rnn.runs.folders import setting_refused

MLFLOW_RUN_FILE = "mlflow_run.json"
MLFLOW_DATABASE = "mlflow.db"
MLFLOW_ARTIFACTS = "mlflow-artifacts"
METRICS_FILE = "metrics.csv"  # what Lightning's CSV writer names it
SET_ASIDE = ".metrics.csv.resuming"  # metrics.csv while the writer opens the folder; the truth while it exists
MLFLOW_VALUE_LENGTH = 250  # what Lightning's MLFlowLogger keeps of a parameter's value
FIRST_CONTACT_RETRIES = "1"  # MLflow's default retries an unreachable server for minutes before failing


def logger_configs(config: Namespace) -> list[Namespace]:
    """The configured loggers (``class_path`` and ``init_args``), one or a list, none for ``false``."""
    loggers = config.trainer.logger if isinstance(config.trainer.logger, list) else [config.trainer.logger]
    return [logger for logger in loggers if isinstance(logger, Namespace) and "class_path" in logger]


def file_logger_configs(config: Namespace) -> list[Namespace]:
    """The ``init_args`` of the configured loggers that write into a ``save_dir`` of ``version_N`` folders (TensorBoard,
    CSV); not MLflow's, whose ``save_dir`` is its own store."""
    init_args = [logger.get("init_args") for logger in logger_configs(config) if not is_mlflow(logger)]
    return [args for args in init_args if args is not None and args.get("save_dir") is not None]


def point_loggers_at_run(config: Namespace, run: Path, resumed_at: int | None) -> None:
    """Set the configured loggers to write the run: in its folder, or (MLflow) in the MLflow run it records.

    ``resumed_at``: the step of the checkpoint a resume starts from; None for a new run.
    """
    for logger in file_logger_configs(config):
        logger.save_dir, logger.name, logger.version = str(run.parent), "", run.name
        if resumed_at is not None and "purge_step" in logger:
            # TensorBoard drops what the stopped run logged after its checkpoint: every optimizer step logs one further.
            logger.purge_step = resumed_at
    for logger in logger_configs(config):
        if is_mlflow(logger):
            point_mlflow_at_run(logger.init_args, run, resuming=resumed_at is not None)


def logger_class(logger: Namespace) -> type | None:
    """The class a configured logger's ``class_path`` names; None where it cannot be imported (the CLI then says why)."""
    return imported(logger.class_path)


def is_mlflow(logger: Namespace) -> bool:
    cls = logger_class(logger)
    return cls is not None and issubclass(cls, MLFlowLogger)


def check_mlflow_installed(config: Namespace) -> None:
    if any(is_mlflow(logger) for logger in logger_configs(config)) and importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "--trainer.logger MLFlowLogger needs MLflow, which is not installed. Install it with: "
            "pip install -e '.[mlflow]' (or pip install mlflow-skinny)."
        )


def use_local_mlflow_store(init_args: Namespace, root: Path) -> None:
    """Without a tracking URI, MLflow's store is the SQLite database ``ROOT/mlflow.db`` beside the run folders, and its
    artifacts ``ROOT/mlflow-artifacts``, by absolute path so that a resume started from another folder finds them.

    MLflow's own ``save_dir`` is left aside: under LightningCLI it takes the default TensorBoard logger's ``save_dir``
    (``.``), and MLflow refuses the plain-file store that Lightning would make of it.
    """
    if init_args.get("tracking_uri"):
        return
    store = root.resolve()
    store.mkdir(parents=True, exist_ok=True)
    init_args.tracking_uri = f"sqlite:///{store / MLFLOW_DATABASE}"
    init_args.artifact_location = init_args.get("artifact_location") or str(store / MLFLOW_ARTIFACTS)


def point_mlflow_at_run(init_args: Namespace, run: Path, resuming: bool) -> None:
    """Make the MLflow logger log the run: the MLflow run recorded in ``run`` on resume, else a new one named after it
    and tagged with the run folder."""
    saved = mlflow_run_of(run) if resuming else None
    if saved is not None:
        init_args.tracking_uri, init_args.run_id = saved["tracking_uri"], saved["run_id"]
        return
    init_args.run_name = init_args.get("run_name") or run.name
    init_args.tags = {**(init_args.get("tags") or {}), "lit_rnn.run_folder": str(run.resolve())}


@contextmanager
def _few_retries() -> Iterator[None]:
    previous = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = FIRST_CONTACT_RETRIES
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
        else:
            os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = previous


def start_mlflow_run(logger: MLFlowLogger, run: Path, resuming: bool) -> None:
    """Open (or create) the logger's MLflow run now, before training, and record it in the run folder.

    A store that cannot be reached or opened, or that lacks the run a resume continues, is refused here with one line,
    not minutes of retries into the run.
    """
    try:
        with _few_retries():
            run_id, tracking_uri = logger.run_id, logger.experiment.tracking_uri
    except Exception as error:  # noqa: BLE001 - MLflow raises its own, requests' and SQLAlchemy's errors
        if resuming and mlflow_run_of(run) is not None:
            remedy = (
                f"The resumed run's MLflow run is the one {run / MLFLOW_RUN_FILE} names: restore its store, or "
                "move that file away to go on in a new MLflow run."
            )
        else:
            remedy = (
                "Start the tracking server, correct --trainer.logger.init_args.tracking_uri (or MLFLOW_TRACKING_URI), "
                "or leave both out for the local store beside the runs (lightning_logs/mlflow.db)."
            )
        raise ConfigError(
            f"The MLflow tracking store cannot be used: {summarize(error).rstrip('.')}. {remedy}"
        ) from None
    (run / MLFLOW_RUN_FILE).write_text(json.dumps({"tracking_uri": tracking_uri, "run_id": run_id}) + "\n")


def mlflow_run_of(run: Path) -> dict[str, str] | None:
    """The MLflow run that a run folder recorded: its ``tracking_uri`` and ``run_id``; None if it has none."""
    record = run / MLFLOW_RUN_FILE
    if not record.is_file():
        return None
    try:
        saved = json.loads(record.read_text())
        return {"tracking_uri": str(saved["tracking_uri"]), "run_id": str(saved["run_id"])}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{record} is not the record of an MLflow run that lit_rnn writes ({summarize(error)}), so the run's MLflow "
            f"run is unknown. Restore it, or move it away to go on in a new MLflow run."
        ) from None


def continue_csv(logger: CSVLogger, before_step: float) -> None:
    """Keep the rows of the run's ``metrics.csv`` logged before ``before_step``, as they are, for the logger to go on.

    Lightning's writer deletes ``metrics.csv`` when it opens a folder that is not empty, so the file is set aside
    first (a rename: all or nothing), the kept rows are handed to the writer and written back, and only then is the
    file set aside removed. A process killed in between leaves it there, and the next resume reads it again.
    """
    folder = Path(logger.log_dir)
    metrics, aside = folder / METRICS_FILE, folder / SET_ASIDE
    set_aside_now = not aside.exists()
    if set_aside_now:
        if not metrics.exists():
            return
        os.replace(metrics, aside)
    try:
        with aside.open(newline="") as file:
            points = [_point(row) for row in csv.DictReader(file) if row["step"]]
    except (UnicodeDecodeError, csv.Error, KeyError, ValueError, TypeError) as error:
        if set_aside_now:
            os.replace(aside, metrics)  # as it was
        raise ConfigError(
            f"{metrics if set_aside_now else aside} is not a metrics file that Lightning's CSV logger writes "
            f"({summarize(error)}), so the run cannot go on in it. Restore it, or move it away to start the run's "
            "metrics.csv afresh."
        ) from None
    writer = logger.experiment  # opens the folder: nothing to delete now
    for step, metrics in points:
        if step < before_step:
            writer.log_metrics(metrics, step)
    logger.save()
    aside.unlink()


def _point(row: dict[str | None, Any]) -> tuple[int, dict[str, str]]:
    """A ``metrics.csv`` row as its step and its metrics, written back as they were (``1`` stays ``1``, not ``1.0``).

    Raises:
        ValueError: a row with more fields than the header (``csv`` files them under ``None``), or a field that is
            neither a number nor empty (a metric not logged at that step).
        TypeError: a row with fewer fields than the header.
    """
    if None in row:
        raise ValueError(f"the row of step {row['step']} has more fields than the header names")
    metrics = {key: value for key, value in row.items() if key != "step" and value != ""}
    for value in metrics.values():
        float(value)
    return int(row["step"]), metrics


def continue_mlflow(logger: MLFlowLogger, checkpoint_step: int) -> None:
    """Send the logger's MLflow run only the points past those it holds, so that no metric has a step twice.

    MLflow's API deletes no metric point. The points that the stopped process logged after its checkpoint stay, and
    the resumed run skips its own at those steps: with the same settings they are the same values (a resume is
    exact); a setting changed on resume shows from the first step after them. MLflow's parameters cannot change
    either: the run keeps those it started with, and a setting changed on resume is recorded as the tag
    ``lit_rnn.changed_on_resume.KEY``.
    """
    client, run_id = logger.experiment, logger.run_id
    run = client.get_run(run_id)
    last_steps = {key: max(point.step for point in client.get_metric_history(run_id, key)) for key in run.data.metrics}
    log_metrics, log_hyperparams = logger.log_metrics, logger.log_hyperparams

    def log_new_points(metrics: dict[str, Any], step: int | None = None) -> None:
        new = {key: value for key, value in metrics.items() if (step or 0) > last_steps.get(key, -1)}
        if new:
            log_metrics(new, step)

    def log_unchanged_settings(params: dict[str, Any]) -> None:
        settings = flat_settings(params)
        changed = {
            key: value
            for key, value in settings.items()
            if key in run.data.params and run.data.params[key] != str(value)[:MLFLOW_VALUE_LENGTH]
        }
        log_hyperparams({key: value for key, value in settings.items() if key not in changed})
        for key, value in changed.items():
            client.set_tag(
                run_id, f"lit_rnn.changed_on_resume.{key}", f"{value} from step {checkpoint_step}"[:MLFLOW_VALUE_LENGTH]
            )

    logger.log_metrics, logger.log_hyperparams = log_new_points, log_unchanged_settings


def continue_logs(loggers: list[Logger], run: Path, checkpoint_step: int | None) -> None:
    """Point the built loggers at the run: record its MLflow runs; on resume, continue each logger run's metrics."""
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            start_mlflow_run(logger, run, resuming=checkpoint_step is not None)
        if checkpoint_step is None:
            continue
        if isinstance(logger, CSVLogger):
            continue_csv(logger, checkpoint_step)
        elif isinstance(logger, MLFlowLogger):
            continue_mlflow(logger, checkpoint_step)


def viewers(loggers: list[Logger], run: Path, root: Path) -> list[str]:
    """Where to look at what each logger wrote: a command to run, or the file."""
    found = []
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            found.append(f"tensorboard --logdir {root}")
        elif isinstance(logger, MLFlowLogger):
            record = mlflow_run_of(run)
            uri = record["tracking_uri"]
            local = uri.startswith(("sqlite:", "file:"))
            found.append(
                f"mlflow ui --backend-store-uri {uri} (MLflow run {record['run_id']})"
                if local
                else f"MLflow run {record['run_id']} at {uri}"
            )
        elif isinstance(logger, CSVLogger):
            found.append(f"{run / METRICS_FILE} (pictures in {run / IMAGES})")
    return found


def loggers_of_run(run: Path, settings: dict[str, Any]) -> list[Logger]:
    """Loggers of the kinds whose logs the run holds, and of those its settings (its ``config.yaml``) name, pointed at
    the run's own logs, so that what they log (``python -m lit_rnn.test``) adds to the run instead of starting another:
    TensorBoard where the settings name none. Only the kinds this project continues are looked up, by name: nothing
    the file names is imported.

    Raises:
        ConfigError: naming the run's config.yaml, for a logger there that names no class.
    """
    named = settings.get("trainer", {}).get("logger", True)
    kinds = {_named_kind(run, logger) for logger in (named if isinstance(named, list) else [named])}
    kinds |= _kinds_logged(run)
    loggers: list[Logger] = []
    if TensorBoardLogger in kinds:
        loggers.append(TensorBoardLogger(save_dir=run.parent, name="", version=run.name, default_hp_metric=False))
    if CSVLogger in kinds:
        loggers.append(CSVLogger(save_dir=run.parent, name="", version=run.name))
        continue_csv(loggers[-1], before_step=math.inf)
    if MLFlowLogger in kinds and (recorded := mlflow_run_of(run)) is not None:
        loggers.append(MLFlowLogger(**recorded))
        start_mlflow_run(loggers[-1], run, resuming=True)  # its store there still, and the run in it
    return loggers


def _named_kind(run: Path, logger: Any) -> type | None:
    """The kind of logger an entry of the run's ``trainer.logger`` names: None for none (``false``) or for a kind this
    project does not continue; Lightning's default, TensorBoard, for ``true``."""
    if logger is True or logger is None:
        return TensorBoardLogger
    if logger is False:
        return None
    if isinstance(logger, dict) and isinstance(logger.get("class_path"), str):
        return known_logger(logger["class_path"])
    problem = f"--trainer.logger is {logger!r}, but it must be true, false or a logger's class_path and init_args."
    raise setting_refused(run, ConfigError(problem, problem))


def _kinds_logged(run: Path) -> set[type]:
    """The kinds of logger whose files the run folder holds: TensorBoard's event files, CSV's metrics, MLflow's record."""
    kinds = set()
    if any(run.glob("events.out.tfevents.*")):
        kinds.add(TensorBoardLogger)
    if os.path.lexists(run / METRICS_FILE) or os.path.lexists(run / SET_ASIDE):
        kinds.add(CSVLogger)
    if os.path.lexists(run / MLFLOW_RUN_FILE):
        kinds.add(MLFlowLogger)
    return kinds
