"""Opening a sweep's study storage: a database that every worker and every trial's fit process reaches by its URL."""

import contextlib
import time
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from lit_rnn.base.errors import ConfigError, summarize
from lit_rnn.base.file_locks import locked


def open_storage(url: str, heartbeat_seconds: int, attempts: int = 5) -> optuna.storages.BaseStorage:
    """Optuna's storage at ``url``, with heartbeats so that a trial whose worker died is failed and tried again.

    Workers that start together race to create the database's tables, and all but one can fail on the way: a
    failure is tried again after a second, and only the last one is an error. SQLite, which lets one process write
    at a time, takes the workers in turn and has them wait for each other's writes.
    """
    sqlite_file = _sqlite_file(url)
    attempt = 1
    while True:
        try:
            with locked(Path(f"{sqlite_file}.lock")) if sqlite_file else contextlib.nullcontext():
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs={"connect_args": {"timeout": 60}} if sqlite_file else None,
                    heartbeat_interval=heartbeat_seconds,
                    grace_period=4 * heartbeat_seconds,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
                )
        except Exception as error:  # a malformed URL, a missing driver, a server that cannot be reached, a race
            if attempt == attempts or isinstance(error, (ImportError, ValueError)):
                raise ConfigError(
                    f"--sweep.storage {url} cannot be opened: {summarize(error)}. Give an Optuna storage "
                    "URL such as sqlite:///study.db or postgresql+psycopg://user:password@host/database, "
                    "of a server that runs."
                ) from None
            attempt += 1
            time.sleep(1)


def _sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for another database.

    Each trial's fit reports to the study from a process of its own, which cannot see a database in the worker's
    memory: such a URL is refused.
    """
    try:
        parsed: URL = make_url(url)
    except ArgumentError:
        return None  # RDBStorage says what is wrong with it
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or ":memory:" in parsed.database or parsed.query.get("mode") == "memory":
        raise ConfigError(
            f"--sweep.storage {url} is a SQLite database in memory, which the trials' own processes "
            f"cannot reach: give a file (sqlite:///study.db), or leave it out for one in the sweep's "
            "folder."
        )
    return parsed.database
