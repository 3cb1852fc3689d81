"""Every wrong input, through the real command line: one clear message naming the culprit, a non-zero exit,
no traceback, and nothing that was there before changed."""

import shutil
import struct
import subprocess
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers.commands import run_module, snapshot, tiny_fit_args
from helpers.mnist import IDX_NAMES

from lit_rnn.runs.checkpointing import read_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.long]  # every wrong input, each a process: make test-long

RUN = Path("lightning_logs") / "version_0"
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}  # nothing listens there
TWO_PROCESSES = ["--trainer.devices=2", "--trainer.accelerator=cpu"]


def raw(workspace: Path, name: str) -> Path:
    return workspace / "data" / "MNIST" / "raw" / name


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def drop_one_label(workspace: Path) -> None:
    labels = raw(workspace, IDX_NAMES[True][1])
    body = labels.read_bytes()[8:-1]
    labels.write_bytes(struct.pack(">II", 0x0801, len(body)) + body)


def set_magic(path: Path, magic: int) -> None:
    path.write_bytes(struct.pack(">I", magic) + path.read_bytes()[4:])


def set_first_label(workspace: Path, label: int) -> None:
    labels = raw(workspace, IDX_NAMES[True][1])
    body = labels.read_bytes()
    labels.write_bytes(body[:8] + bytes([label]) + body[9:])


def zip_of_another_kind(workspace: Path) -> None:
    with zipfile.ZipFile(workspace / "notes.zip", "w") as archive:
        archive.writestr("notes/readme.txt", "a zip archive, not a checkpoint")


@dataclass
class Case:
    name: str
    args: list[str]
    culprit: str  # the message must name it
    prepare: Callable[[Path], None] = lambda workspace: None
    module: str = "lit_rnn.fit"
    env: dict[str, str] = field(default_factory=dict)
    exit_code: int = 2
    keeps_new_run: bool = False  # a failure after training began keeps its (resumable) run


CASES = [
    Case("learning rate zero", ["--model.optimizer.lr=0"], "--model.optimizer.lr"),
    Case("learning rate negative", ["--model.optimizer.lr=-0.1"], "--model.optimizer"),
    Case("learning rate not a number", ["--model.optimizer.lr=fast"], "--model.optimizer.lr"),
    Case("hidden size zero", ["--model.network.hidden_size=0"], "--model.network.hidden_size"),
    Case("layers zero", ["--model.network.num_layers=0"], "--model.network.num_layers"),
    Case("batch size negative", ["--data.batch_size=-8"], "--data.batch_size"),
    Case("dropout one", ["--model.network.num_layers=2", "--model.network.dropout=1"], "--model.network.dropout"),
    Case("dropout with one layer", ["--model.network.dropout=0.2"], "--model.network.dropout"),
    Case("validation size zero", ["--data.val_size=0"], "--data.val_size"),
    Case("validation size all", ["--data.val_size=60000"], "--data.val_size"),
    Case("unknown cell", ["--model.network.cell=lsmt"], "model.network.cell"),
    Case("unknown key", ["--model.hiden_size=32"], "--model.hiden_size"),
    Case("missing yaml", ["--config=missing.yaml"], "missing.yaml"),
    Case(
        "broken yaml",
        ["--config=broken.yaml"],
        "broken.yaml",
        lambda w: (w / "broken.yaml").write_text("model: [hidden_size: 3\n"),
    ),
    Case(
        "yaml of nested aliases",
        ["--config=laughs.yaml"],
        "laughs.yaml expands to more than 100,000 values",
        lambda w: (w / "laughs.yaml").write_text(
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
        ),
    ),
    Case(
        "yaml with a nul byte",
        ["--config=nul.yaml"],
        "nul.yaml holds a NUL byte",
        lambda w: (w / "nul.yaml").write_bytes(b"trainer:\n  max_epochs: 1\0\n"),
    ),
    Case(
        "yaml not utf-8",
        ["--config=latin.yaml"],
        "latin.yaml is not UTF-8 text",
        lambda w: (w / "latin.yaml").write_bytes(b"model:\n  cell: gr\xfc\n"),
    ),
    Case(
        "a function as the optimizer",
        ['--model.optimizer={"class_path": "os.system", "init_args": {"command": "touch ran"}}'],
        "--model.optimizer is os.system, which is not a subclass",
    ),
    Case("max epochs below the checkpoint's", ["--ckpt_path=last", "--trainer.max_epochs=1"], "--trainer.max_epochs"),
    Case("data folder missing", ["--data.data_dir=typo/data"], "typo/data"),
    Case(
        "data folder not writable",
        ["--data.data_dir=notes.txt"],
        "notes.txt",
        lambda w: (w / "notes.txt").write_text(""),
    ),
    Case(
        "mnist missing, no network",
        ["--data.data_dir=empty"],
        "could not be downloaded",
        lambda w: (w / "empty").mkdir(),
        env=OFFLINE,
    ),
    Case("idx truncated", [], IDX_NAMES[True][0][:5], lambda w: truncate(raw(w, IDX_NAMES[True][0]))),
    Case("idx wrong magic", [], "is not an IDX file", lambda w: set_magic(raw(w, IDX_NAMES[False][0]), 0x0A0B0C0D)),
    Case("idx counts disagree", [], "do not match", drop_one_label),
    # met by the processes that Lightning starts: each process's error is carried to the command, and said once
    Case(
        "idx truncated, met in each of ddp's processes",
        [*TWO_PROCESSES, "--trainer.strategy=ddp"],
        f"{IDX_NAMES[True][0]} is 1,000 bytes long",
        lambda w: truncate(raw(w, IDX_NAMES[True][0])),
    ),
    Case(
        "mlflow tracking server unreachable",
        [
            "--trainer.logger=lightning.pytorch.loggers.MLFlowLogger",
            "--trainer.logger.init_args.tracking_uri=http://127.0.0.1:9",
        ],
        "http://127.0.0.1:9",
    ),
    Case(
        "logger that cannot be built",
        [
            "--trainer.logger=lightning.pytorch.loggers.MLFlowLogger",
            "--trainer.logger.init_args.tracking_uri=notaurl://x",
        ],
        "MLFlowLogger could not be built",
    ),
    Case(
        "callback that refuses its settings",
        [
            "--trainer.callbacks+=lightning.pytorch.callbacks.EarlyStopping",
            "--trainer.callbacks.monitor=val/acc",
            "--trainer.callbacks.mode=sideways",
        ],
        "EarlyStopping could not be built",
    ),
    Case(
        "csv metrics file not the logger's",
        ["--trainer.logger=lightning.pytorch.loggers.CSVLogger", "--ckpt_path=last", "--trainer.max_epochs=3"],
        "metrics.csv is not a metrics file",
        lambda w: (w / RUN / "metrics.csv").write_bytes(b"garbage\x00\xff\n"),
    ),
    Case(
        "csv metrics row with an extra field",
        ["--trainer.logger=lightning.pytorch.loggers.CSVLogger", "--ckpt_path=last", "--trainer.max_epochs=3"],
        "has more fields than the header names",
        lambda w: (w / RUN / "metrics.csv").write_text("epoch,step,train/loss\n0,4,0.5\n0,9,0.4,0.1\n"),
    ),
    Case(
        "csv metrics value not a number",
        ["--trainer.logger=lightning.pytorch.loggers.CSVLogger", "--ckpt_path=last", "--trainer.max_epochs=3"],
        "metrics.csv is not a metrics file",
        lambda w: (w / RUN / "metrics.csv").write_text("epoch,step,train/loss\n0,4,0.5\n0,9,low\n"),
    ),
    Case(
        "mlflow run record not lit_rnn's",
        ["--trainer.logger=lightning.pytorch.loggers.MLFlowLogger", "--ckpt_path=last", "--trainer.max_epochs=3"],
        "mlflow_run.json is not the record",
        lambda w: (w / RUN / "mlflow_run.json").write_text('{"run_id": 5'),
    ),
    Case(
        "the same kind of logger twice",
        ["--config=two_csv.yaml"],
        "lists CSVLogger more than once",
        lambda w: (w / "two_csv.yaml").write_text(
            "trainer:\n  logger:\n" + "    - class_path: lightning.pytorch.loggers.CSVLogger\n" * 2
        ),
    ),
    Case(
        "logs not writable",
        ["--trainer.logger.init_args.save_dir=notes.txt"],
        "notes.txt",
        lambda w: (w / "notes.txt").write_text(""),
    ),
    Case(
        "disk fills during a checkpoint",
        [
            "--recovery.every_n_steps=3",
            "--trainer.callbacks+=helpers.probes.DiskFullAfterStep",
            "--trainer.callbacks.step=4",
        ],
        "disk is full",
        exit_code=1,
        keeps_new_run=True,
    ),
    Case("checkpoint missing", ["--ckpt_path=gone.ckpt"], "gone.ckpt"),
    Case(
        "checkpoint truncated",
        ["--ckpt_path=cut.ckpt"],
        "cut.ckpt",
        lambda w: (w / "cut.ckpt").write_bytes((w / RUN / "checkpoints" / "last.ckpt").read_bytes()[:5000]),
    ),
    Case(
        "checkpoint of another architecture",
        [f"--ckpt_path={RUN / 'checkpoints' / 'last.ckpt'}", "--model.network.hidden_size=32"],
        "different model",
    ),
    Case(
        "image file that is not an image",
        ["--ckpt_path=best", "notes.txt"],
        "notes.txt",
        lambda w: (w / "notes.txt").write_text("7"),
        module="lit_rnn.predict",
    ),
    # The run's settings that Lightning would take and fail on later, or that would break its resume.
    Case("seed negative", ["--seed_everything=-5"], "--seed_everything"),
    Case("seed past 32 bits", ["--seed_everything=4294967296"], "--seed_everything"),
    Case("a GPU on a machine without one", ["--trainer.accelerator=gpu"], "gpu"),
    Case("checkpointing off", ["--trainer.enable_checkpointing=false"], "--trainer.enable_checkpointing"),
    Case("ranking checkpoints by a metric never logged", ["--checkpoint.monitor=val/accuracy"], "--checkpoint.monitor"),
    Case("resume with another batch size", ["--ckpt_path=last", "--data.batch_size=25"], "--data.batch_size 25"),
    Case("resume with another seed", ["--ckpt_path=last", "--seed_everything=2"], "--seed_everything 2"),
    Case("resume with another validation split", ["--ckpt_path=last", "--data.split_seed=3"], "--data.split_seed 3"),
    Case(
        "early stopping on a metric never logged",
        ["--trainer.callbacks+=lightning.pytorch.callbacks.EarlyStopping", "--trainer.callbacks.monitor=val/accuracy"],
        "--trainer.callbacks.monitor (of EarlyStopping) is 'val/accuracy'",
    ),
    Case(
        "a ModelCheckpoint callback on a metric never logged",
        ["--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint", "--trainer.callbacks.monitor=val_acc"],
        "--trainer.callbacks.monitor (of ModelCheckpoint) is 'val_acc'",
    ),
    Case(
        "16-bit mixed precision on a CPU",
        ["--trainer.accelerator=cpu", "--trainer.precision=16-mixed"],
        "--trainer.precision is '16-mixed'",
    ),
    Case(
        "16-bit precision on a CPU",
        ["--trainer.accelerator=cpu", "--trainer.precision=16-true"],
        "--trainer.precision is '16-true'",
    ),
    Case("barebones mode", ["--trainer.barebones=true"], "--trainer.barebones is True"),
    Case("ddp_spawn", ["--trainer.strategy=ddp_spawn", *TWO_PROCESSES], "--trainer.strategy is 'ddp_spawn'"),
    Case("ddp_fork", ["--trainer.strategy=ddp_fork", *TWO_PROCESSES], "--trainer.strategy is 'ddp_fork'"),
    Case("export tolerance nan", ["--tolerance=nan"], "'nan' is not a finite number", module="lit_rnn.export"),
    Case("export tolerance negative", ["--tolerance=-1"], "'-1' is not a finite number", module="lit_rnn.export"),
    Case("export checkpoint missing", ["--ckpt_path=gone.ckpt"], "gone.ckpt", module="lit_rnn.export"),
    Case("test checkpoint missing", ["--ckpt_path=gone.ckpt"], "gone.ckpt", module="lit_rnn.test"),
    # data
    Case("label outside 0-9", [], "holds the label 10 at position 0", lambda w: set_first_label(w, 10)),
    Case(
        "images of another element type",
        [],
        "element type 0x0d",
        lambda w: set_magic(raw(w, IDX_NAMES[True][0]), 0x00000D03),
    ),
    Case(
        "data folder a symlink loop",
        ["--data.data_dir=loop"],
        "loop is a symbolic link that loops back on itself",
        lambda w: (w / "loop").symlink_to("loop"),
    ),
    Case("data folder empty name", ["--data.data_dir="], "--data.data_dir is ''"),
    Case("validation split as large as the training files", ["--data.val_size=600"], "--data.val_size is 600"),
    # checkpoints
    Case("checkpoint a folder", ["--ckpt_path=lightning_logs"], "is a folder, not a checkpoint file"),
    Case(
        "checkpoint a zip of another kind",
        ["--ckpt_path=notes.zip"],
        "is not a PyTorch checkpoint",
        zip_of_another_kind,
    ),
    Case(
        "predict checkpoint a zip of another kind",
        ["--ckpt_path=notes.zip", "--indices=0"],
        "is not a PyTorch checkpoint",
        zip_of_another_kind,
        module="lit_rnn.predict",
    ),
    Case(
        "predict checkpoint a folder",
        ["--ckpt_path=lightning_logs", "--indices=0"],
        "is a folder, not a checkpoint file",
        module="lit_rnn.predict",
    ),
    # pictures, and the predict command line
    Case(
        "picture a decompression bomb",
        ["bomb.pgm"],
        "bomb.pgm is too large to read safely",
        lambda w: (w / "bomb.pgm").write_bytes(b"P5\n100000 100000\n255\n"),
        module="lit_rnn.predict",
    ),
    Case("predict unknown format", ["--format=xml", "--indices=0"], "invalid choice: 'xml'", module="lit_rnn.predict"),
    Case(
        "predict unknown option",
        ["--bogus", "--indices=0"],
        "unrecognized arguments: --bogus",
        module="lit_rnn.predict",
    ),
    Case(
        "predict indices past the test set",
        ["--indices=0-30000000"],
        "goes past the MNIST test set",
        module="lit_rnn.predict",
    ),
    # the model
    Case("learning rate nan", ["--model.optimizer.lr=nan"], "must be a finite positive number"),
    Case(
        "learning rate infinite in yaml",
        ["--config=lr.yaml"],
        "must be a finite positive number",
        lambda w: (w / "lr.yaml").write_text(
            "model:\n  optimizer:\n    class_path: torch.optim.Adam\n    init_args: {lr: .inf}\n"
        ),
    ),
    Case(
        "learning rate that overflows the weights",
        ["--model.optimizer.lr=1e300"],
        "Training diverged at step 1",
        exit_code=1,
        keeps_new_run=True,
    ),
    Case(
        "hidden size huge",
        ["--model.network.hidden_size=1000000000000"],
        "--model.network.hidden_size is 1000000000000",
    ),
    Case("layers huge", ["--model.network.num_layers=1000000000000"], "--model.network.num_layers is 1000000000000"),
]


@pytest.fixture(scope="module")
def finished_run(tiny_mnist, tmp_path_factory) -> Path:
    """A workspace holding the tiny data as data/ and one finished two-epoch run in lightning_logs/version_0."""
    workspace = tmp_path_factory.mktemp("finished_run")
    shutil.copytree(tiny_mnist, workspace / "data")
    result = run_module("lit_rnn.fit", tiny_fit_args(Path("data"), "--trainer.max_epochs=2"), cwd=workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    return workspace


@pytest.fixture(scope="module")
def outcomes(finished_run, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, dict, Path]]:
    """Every case run in its own copy of the workspace, two at a time (each is mostly interpreter start-up)."""

    def run(case: Case):
        workspace = tmp_path_factory.mktemp("case")
        shutil.copytree(finished_run, workspace, dirs_exist_ok=True)
        case.prepare(workspace)
        before = snapshot(workspace)
        args = case.args if case.module != "lit_rnn.fit" else tiny_fit_args(Path("data"), *case.args)
        result = run_module(case.module, args, cwd=workspace, env=case.env)
        return case.name, (result, before, workspace)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, CASES))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_wrong_input_gets_one_clear_error_and_loses_nothing(case, outcomes):
    result, before, workspace = outcomes[case.name]
    assert result.returncode == case.exit_code, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (message,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert case.culprit in message
    after = snapshot(workspace)
    assert {name: after.get(name) for name in before} == before  # nothing that was there is changed or gone
    new_runs = {name.split("/")[1] for name in after if name.startswith("lightning_logs/")} - {"version_0"}
    assert bool(new_runs) == case.keeps_new_run


def test_a_full_disk_leaves_the_previous_checkpoint_whole_and_no_partial_file(outcomes):
    result, _, workspace = outcomes["disk fills during a checkpoint"]
    checkpoints = workspace / "lightning_logs" / "version_1" / "checkpoints"
    assert read_checkpoint(checkpoints / "recovery.ckpt")["global_step"] == 3
    assert [path.name for path in checkpoints.iterdir() if path.name.endswith(".partial")] == []


def test_two_runs_started_together_get_their_own_run_folders(finished_run, tmp_path):
    workspace = tmp_path / "together"
    shutil.copytree(finished_run, workspace)
    args = tiny_fit_args(Path("data"), "--trainer.max_epochs=1")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run_module("lit_rnn.fit", args, cwd=workspace), range(2)))
    assert [result.returncode for result in results] == [0, 0], [result.stderr[-2000:] for result in results]
    folders = sorted(result.stdout.split("Logs and checkpoints: ")[1].split()[0] for result in results)
    assert [Path(folder).name for folder in folders] == ["version_1", "version_2"]
    for folder in folders:
        assert (workspace / folder / "checkpoints" / "last.ckpt").is_file()
        writers = {path.name.split(".")[-2] for path in (workspace / folder).glob("events.out.tfevents.*")}
        assert len(writers) == 1  # event files named by one process id: no run wrote into the other's folder
