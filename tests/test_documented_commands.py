"""Every command the README and docs/ show works as written. A lit_rnn command is parsed and checked by its own command
line, from the repository's root as the pages assume (running them takes minutes; the end-to-end tests run them); a
make target exists; a benchmark takes the options shown; a ``python -c`` snippet runs; TensorBoard's viewer starts.
What cannot run here is named in ``NOT_RUN`` with why, so that a command this test does not know fails it."""

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import torch.distributed.run
from helpers.cli import fit_config

from lit_rnn import export, predict, serve, sweep, test

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"```(?:bash|sh)\n(.*?)```", re.S)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
PLACEHOLDER = "networks.NAME."  # the README's network for the reader to write
TRAINED_MODEL_COMMANDS = {
    "lit_rnn.test": test,
    "lit_rnn.predict": predict,
    "lit_rnn.export": export,
    "lit_rnn.serve": serve,
}
NOT_RUN = {
    "curl": "a request to a running server: tests/serving sends each of these requests",
    "pip": "an installation: CI's own set-up runs it",
    "mlflow": "MLflow's viewer comes with the full mlflow package, which the docs say to install for it",
    "sbatch": "a Slurm job: tests/cluster/test_slurm.py submits the shipped sbatch files to a real Slurm",
    "squeue": "Slurm's queue, of a cluster: tests/cluster/test_slurm.py asks a real one",
    "scontrol": "Slurm's controller, of a cluster: tests/cluster/test_slurm.py asks a real one",
    "tail": "a running job's output file",
    "export": "an environment variable for the commands after it",
}
NEEDS_A_RUN = "lightning_logs/version_0/metrics.csv"  # a snippet that reads a finished run's files


def documented_commands() -> list[tuple[str, list[str]]]:
    """Each command line of the pages' shell blocks, split as the shell splits it, its comment dropped."""
    commands = []
    for page in PAGES:
        for block in SHELL_BLOCK.findall(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                if words := shlex.split(line, comments=True):
                    commands.append((f"{page.relative_to(REPO)}: {line.strip()[:90]}", words))
    return commands


def lit_rnn_command(words: list[str]) -> tuple[str, list[str]] | None:
    """The lit_rnn module and its arguments that a command runs (itself, or through a launcher), if it runs one."""
    if "-m" in words and words[words.index("-m") + 1].startswith("lit_rnn."):
        at = words.index("-m")
        return words[at + 1], words[at + 2 :]
    return None


@cache
def script_help(script: str) -> str:
    result = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def users_network(tmp_path, monkeypatch) -> None:
    """The network of docs/networks.md's example, in the module of the user's own package that its commands name."""
    (code,) = PYTHON_BLOCK.findall((REPO / "docs" / "networks.md").read_text())
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "nets.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))


def accepts(module: str, args: list[str]) -> None:
    """Parse and check ``args`` as ``python -m MODULE`` does, building nothing; ``--help`` and ``--print_config`` print
    and end in exit 0."""
    try:
        if module == "lit_rnn.fit":
            fit_config(args)
        elif module == "lit_rnn.sweep":
            cli = sweep.SweepCLI(args=args)
            sweep.Sweep(cli, sweep.SweepSettings(**cli.config.sweep)).check()
        else:
            TRAINED_MODEL_COMMANDS[module].parser().parse_args(args)
    except SystemExit as exit:
        assert exit.code == 0 and {"--help", "--print_config"} & set(args), f"exit {exit.code}"


def test_the_pages_show_commands_of_every_kind():
    kinds = {lit_rnn_command(words)[0] if lit_rnn_command(words) else words[0] for _, words in documented_commands()}
    assert {"lit_rnn.fit", "lit_rnn.predict", "lit_rnn.test", "lit_rnn.sweep", "make", "tensorboard"} <= kinds


def documented_configs() -> list[tuple[str, str]]:
    return [
        (f"{page.relative_to(REPO)}: {block.splitlines()[0]}", block)
        for page in PAGES
        for block in YAML_BLOCK.findall(page.read_text())
        if PLACEHOLDER not in block
    ]


@pytest.mark.parametrize("block", [pytest.param(block, id=where) for where, block in documented_configs()])
def test_each_config_shown_is_one_its_command_accepts(block, tmp_path, monkeypatch):
    """A block with a ``sweep:`` section is a sweep file; any other is a fit config."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["lit_rnn"])
    config = tmp_path / "config.yaml"
    config.write_text(block)
    accepts("lit_rnn.sweep" if re.search(r"^sweep:", block, re.MULTILINE) else "lit_rnn.fit", ["--config", str(config)])


@pytest.mark.parametrize(
    "words",
    [pytest.param(words, id=where) for where, words in documented_commands() if lit_rnn_command(words)],
)
def test_each_lit_rnn_command_is_one_its_command_line_accepts(words, users_network, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["lit_rnn"])  # pytest's own arguments are not the commands'
    if words[0] == "torchrun":  # its own options too
        torch.distributed.run.get_args_parser().parse_args(words[1:])
    accepts(*lit_rnn_command(words))


@pytest.mark.parametrize(
    "words",
    [pytest.param(words, id=where) for where, words in documented_commands() if words[0] == "make"],
)
def test_each_make_target_exists(words):
    result = subprocess.run(["make", "--dry-run", *words[1:]], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


OTHERS = [
    (where, words)
    for where, words in documented_commands()
    if not lit_rnn_command(words) and words[0] not in ("make", *NOT_RUN)
]


@pytest.mark.slow  # each starts an interpreter that imports torch
@pytest.mark.parametrize("words", [pytest.param(words, id=where) for where, words in OTHERS])
def test_each_other_command_runs_or_takes_the_options_shown(words, tmp_path):
    if words[0] == "tensorboard":
        viewer = Path(sys.executable).with_name("tensorboard")
        result = subprocess.run([viewer, *words[1:], "--version_tb"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
    elif words[:2] == ["python", "-c"]:
        if NEEDS_A_RUN in words[2]:
            pytest.skip(f"reads a finished run's {NEEDS_A_RUN}")
        result = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
    else:
        assert words[0] == "python" and words[1].endswith(".py"), f"a command this test does not know: {words}"
        assert (REPO / words[1]).is_file()
        for option in (word.split("=")[0] for word in words[2:] if word.startswith("--")):
            assert option in script_help(words[1]), f"{words[1]} --help does not list {option}"
