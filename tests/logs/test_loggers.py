"""CSV and MLflow log a run as TensorBoard does: every metric, the settings, the pictures; and a run killed and resumed
with ``--ckpt_path last`` goes on in the same CSV folder and the same MLflow run, with no step logged twice.

The run logs to both at once, a list of loggers with MLflow first, through the real ``python -m lit_rnn.fit``. The runs,
never stopped or killed and resumed, are fit processes: their tests run with ``-m slow`` (``make test-slow``, and CI).
"""

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml
from helpers.commands import run_module, tiny_fit_args
from jsonargparse import Namespace
from mlflow.tracking import MlflowClient
from PIL import Image

from lit_rnn.base.errors import ConfigError
from lit_rnn.runs.logger_runs import check_mlflow_installed

RUN = Path("lightning_logs") / "version_0"
PICTURES = (
    "train/digits",
    "val/confusion_matrix",
    "val/worst_mistakes",
    "test/confusion_matrix",
    "test/worst_mistakes",
)
METRICS = {
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "val/acc_best",
    "test/loss",
    "test/acc",
    "lr-Adam",
    *(f"{stage}_per_digit/acc_{digit}" for stage in ("val", "test") for digit in range(10)),
}
VALIDATION_STEPS = [9, 19]  # the tiny fit's two epochs of 10 steps: Lightning logs a validation at its last step
BOTH_LOGGERS = {
    "trainer": {
        "logger": [
            {"class_path": "lightning.pytorch.loggers.MLFlowLogger"},
            # flushed at every step, so that a killed process leaves on disk what it logged after its checkpoint
            {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": ".", "flush_logs_every_n_steps": 1},
            },
        ]
    }
}
KILLED_AFTER_VALIDATION = [
    "--trainer.callbacks+=helpers.interrupt.InterruptAt",
    "--trainer.callbacks.step=5",
    "--trainer.callbacks.moment=validation",
    "--trainer.callbacks.signal=KILL",
]


def fit_args(data_dir: Path, *extra: str) -> list[str]:
    return tiny_fit_args(
        data_dir, "--config=loggers.yaml", "--trainer.log_every_n_steps=2", "--recovery.every_n_steps=4", *extra
    )


def start(workdir: Path) -> Path:
    (workdir / "loggers.yaml").write_text(yaml.safe_dump(BOTH_LOGGERS))
    return workdir


def csv_rows(workdir: Path) -> list[dict[str, str]]:
    with (workdir / RUN / "metrics.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def csv_points(workdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Each CSV column's (step, value) points, in the file's order."""
    points: dict[str, list[tuple[int, float]]] = {}
    for row in csv_rows(workdir):
        for key, value in row.items():
            if key != "step" and value != "":
                points.setdefault(key, []).append((int(row["step"]), float(value)))
    return points


def mlflow_run(workdir: Path) -> tuple[MlflowClient, str]:
    record = json.loads((workdir / RUN / "mlflow_run.json").read_text())
    return MlflowClient(record["tracking_uri"]), record["run_id"]


def mlflow_points(workdir: Path) -> dict[str, list[tuple[int, float]]]:
    client, run_id = mlflow_run(workdir)
    return {
        key: [
            (point.step, point.value)
            for point in sorted(client.get_metric_history(run_id, key), key=lambda point: (point.timestamp, point.step))
        ]
        for key in client.get_run(run_id).data.metrics
    }


@pytest.fixture(scope="module")
def straight(tiny_mnist, tmp_path_factory) -> tuple[Path, str]:
    """A run never stopped: its folder and what it printed."""
    workdir = start(tmp_path_factory.mktemp("straight"))
    result = run_module("lit_rnn.fit", fit_args(tiny_mnist), cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result.stdout


@pytest.fixture(scope="module")
def resumed(tiny_mnist, tmp_path_factory) -> dict:
    """A run killed at the end of its first validation, before that validation's checkpoints (its newest is the
    recovery checkpoint of step 8), then resumed to the end: its folder and what each process left."""
    workdir = start(tmp_path_factory.mktemp("resumed"))
    killed = run_module("lit_rnn.fit", fit_args(tiny_mnist, *KILLED_AFTER_VALIDATION), cwd=workdir)
    after_kill = {"rows": csv_rows(workdir), "mlflow": mlflow_points(workdir), "record": mlflow_run(workdir)[1]}
    result = run_module("lit_rnn.fit", fit_args(tiny_mnist, "--ckpt_path", "last"), cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"workdir": workdir, "killed": killed, "after_kill": after_kill, "result": result}


@pytest.mark.slow
def test_the_killed_process_had_logged_past_its_checkpoint(resumed):
    assert resumed["killed"].returncode == -9, resumed["killed"].stderr[-3000:]
    assert {row["step"] for row in resumed["after_kill"]["rows"]} >= {"7", "9"}
    assert [step for step, _ in resumed["after_kill"]["mlflow"]["val/acc"]] == [9]


@pytest.mark.slow
def test_the_csv_run_holds_every_metric_the_settings_and_the_pictures(straight):
    workdir, _ = straight
    assert METRICS <= set(csv_points(workdir))
    settings = yaml.safe_load((workdir / RUN / "hparams.yaml").read_text())
    assert settings["network.hidden_size"] == 64 and settings["data.batch_size"] == 50
    for tag in PICTURES:
        steps = sorted(int(path.stem.removeprefix("step_")) for path in (workdir / RUN / "images" / tag).glob("*.png"))
        assert steps == {"train": [0], "val": VALIDATION_STEPS, "test": [20]}[tag.split("/")[0]], tag
        with Image.open(workdir / RUN / "images" / tag / f"step_{steps[-1]}.png") as picture:
            assert min(picture.size) > 100


@pytest.mark.slow
def test_the_mlflow_run_holds_every_metric_the_settings_and_the_pictures(straight):
    workdir, _ = straight
    client, run_id = mlflow_run(workdir)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "version_0"
    assert run.data.tags["lit_rnn.run_folder"] == str((workdir / RUN).resolve())
    assert METRICS <= set(run.data.metrics)
    assert run.data.params["network.hidden_size"] == "64" and run.data.params["data.batch_size"] == "50"
    pictures = {
        Path(artifact.path).relative_to("images").as_posix()
        for folder in client.list_artifacts(run_id, "images")
        for stage_folder in client.list_artifacts(run_id, folder.path)
        for artifact in client.list_artifacts(run_id, stage_folder.path)
    }
    expected = {
        f"{tag}/step_{step}.png"
        for tag in PICTURES
        for step in {"train": [0], "val": VALIDATION_STEPS, "test": [20]}[tag.split("/")[0]]
    }
    assert pictures == expected


@pytest.mark.slow
def test_fit_says_where_to_look(straight):
    workdir, stdout = straight
    _, run_id = mlflow_run(workdir)
    database = (workdir / "lightning_logs" / "mlflow.db").resolve()
    assert (
        f"View them: mlflow ui --backend-store-uri sqlite:///{database} (MLflow run {run_id}); "
        f"{RUN / 'metrics.csv'} (pictures in {RUN / 'images'})\n"
    ) in stdout


@pytest.mark.slow
@pytest.mark.parametrize("read", [csv_points, mlflow_points], ids=["csv", "mlflow"])
def test_no_metric_has_a_step_twice(straight, read):
    assert_each_step_once(read(straight[0]))


def assert_each_step_once(points: dict[str, list[tuple[int, float]]]) -> None:
    for key, logged in points.items():
        steps = [step for step, _ in logged]
        if (
            key == "epoch"
        ):  # Lightning itself logs it twice at a validation's step, with the training metrics and its own
            steps = sorted(set(steps))
        assert steps == sorted(set(steps)), f"{key}: {steps}"
    assert [step for step, _ in points["val/acc"]] == VALIDATION_STEPS
    assert [step for step, _ in points["train/loss"]] == list(range(1, 20, 2))


@pytest.mark.slow
@pytest.mark.parametrize("read", [csv_points, mlflow_points], ids=["csv", "mlflow"])
def test_the_resumed_run_continues_its_logs_with_no_step_twice(resumed, read):
    assert_each_step_once(read(resumed["workdir"]))


@pytest.mark.slow
def test_the_resume_kept_the_csv_rows_before_the_checkpoint_as_they_were(resumed):
    def values(rows: list[dict[str, str]]) -> list[dict[str, str]]:  # columns added later leave the old rows empty
        return [{key: value for key, value in row.items() if value != ""} for row in rows]

    kept = values([row for row in resumed["after_kill"]["rows"] if int(row["step"]) < 8])
    assert kept and values(csv_rows(resumed["workdir"]))[: len(kept)] == kept


@pytest.mark.slow
def test_the_resume_went_on_in_the_same_folder_and_mlflow_run(resumed):
    workdir = resumed["workdir"]
    assert sorted(path.name for path in (workdir / "lightning_logs").iterdir()) == [
        "mlflow-artifacts",
        "mlflow.db",
        "version_0",
    ]
    client, run_id = mlflow_run(workdir)
    assert run_id == resumed["after_kill"]["record"]
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == 1
    assert not (workdir / RUN / ".metrics.csv.resuming").exists()


@pytest.mark.slow
def test_the_resumed_run_logged_what_an_uninterrupted_run_logs(resumed, straight):
    for read in (csv_points, mlflow_points):
        assert read(resumed["workdir"]) == read(straight[0]), read.__name__


@pytest.mark.slow
def test_a_setting_changed_on_resume_is_a_tag_of_the_mlflow_run_whose_parameters_cannot_change(tiny_mnist, tmp_path):
    workdir = start(tmp_path)
    assert run_module("lit_rnn.fit", fit_args(tiny_mnist, *KILLED_AFTER_VALIDATION), cwd=workdir).returncode == -9
    result = run_module(
        "lit_rnn.fit", fit_args(tiny_mnist, "--ckpt_path=last", "--model.optimizer.lr=0.005"), cwd=workdir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client, run_id = mlflow_run(workdir)
    run = client.get_run(run_id)
    assert run.data.params["optimizer/init_args/lr"] == "0.01"
    assert run.data.tags["lit_rnn.changed_on_resume.optimizer/init_args/lr"] == "0.005 from step 8"
    assert [step for step, _ in mlflow_points(workdir)["val/acc"]] == VALIDATION_STEPS


def test_mlflow_asked_for_but_not_installed_is_one_clear_error(monkeypatch):
    settings = Namespace(trainer=Namespace(logger=[Namespace(class_path="lightning.pytorch.loggers.MLFlowLogger")]))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        ConfigError, match=r"needs MLflow, which is not installed. Install it with: pip install -e '\.\[mlflow\]'"
    ):
        check_mlflow_installed(settings)


@pytest.mark.slow
def test_the_test_command_logs_into_the_runs_own_loggers(resumed):
    """Last: it adds to the run that the tests above read."""
    workdir = resumed["workdir"]
    rows_before, points_before = csv_rows(workdir), mlflow_points(workdir)
    result = run_module("lit_rnn.test", ["--ckpt_path", str(RUN / "checkpoints" / "last.ckpt")], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = csv_rows(workdir)
    assert rows[: len(rows_before)] == rows_before and {row["step"] for row in rows[len(rows_before) :]} == {"20"}
    assert mlflow_points(workdir)["test/acc"] == points_before["test/acc"] * 2  # the same value, at the same step
    (logged,) = [line for line in result.stdout.splitlines() if line.startswith(f"Logged at step 20 into {RUN}: ")]
    assert "mlflow ui --backend-store-uri" in logged  # beside the viewer of any other logs the run holds


@pytest.mark.slow
def test_the_test_command_on_a_run_whose_mlflow_store_is_gone_is_one_line_and_logs_nothing(straight, tmp_path):
    shutil.copytree(straight[0], tmp_path, dirs_exist_ok=True)
    record = tmp_path / RUN / "mlflow_run.json"  # the copy's own store, which is then deleted
    store = tmp_path / "lightning_logs" / "mlflow.db"
    record.write_text(json.dumps({**json.loads(record.read_text()), "tracking_uri": f"sqlite:///{store}"}))
    store.unlink()
    rows_before = csv_rows(tmp_path)
    result = run_module("lit_rnn.test", ["--ckpt_path", str(RUN / "checkpoints" / "last.ckpt")], cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith("error: The MLflow tracking store cannot be used: ") and "mlflow_run.json names" in line
    assert csv_rows(tmp_path) == rows_before
