"""A run's results file, the seam between fit and the commands that compare runs: what it holds, and how a resumed
run adds to it."""

import pytest
import torch
from helpers.cli import fit_in_process

from lit_rnn.base.errors import ConfigError
from lit_rnn.runs import results as run_results


def test_a_run_without_results_reads_as_none(tmp_path):
    assert run_results.read(tmp_path) is None


def test_results_hold_the_last_value_of_each_metric_and_a_resume_keeps_what_it_does_not_log_again(tmp_path):
    run_results.record(tmp_path, {"val/loss": torch.tensor(0.5), "val/acc_best": torch.tensor(0.75)}, train_seconds=3.0)
    run_results.record(tmp_path, {"test/acc": 0.875})  # the test, after training
    run_results.record(tmp_path, {"val/loss": torch.tensor(0.25)}, train_seconds=1.0)  # a resume of the same run
    assert run_results.read(tmp_path) == {
        "metrics": {"val/loss": 0.25, "val/acc_best": 0.75, "test/acc": 0.875},
        "train_seconds": 1.0,
    }
    assert [path.name for path in tmp_path.iterdir()] == [run_results.RESULTS_NAME]  # written whole, nothing beside


@pytest.mark.parametrize(
    "content, problem",
    [
        (b'{"metrics": {"val/acc": 0.5', "JSONDecodeError"),
        (b"\xff\xfe", "UnicodeDecodeError"),
        (b"[1, 2]", "no metrics in it"),
        (b'{"metrics": 3}', "no metrics in it"),
    ],
    ids=["cut-off", "not-utf-8", "a-list", "metrics-not-a-mapping"],
)
def test_a_results_file_that_fit_did_not_write_is_one_line_naming_it_and_is_left_as_it_is(tmp_path, content, problem):
    path = tmp_path / run_results.RESULTS_NAME
    path.write_bytes(content)
    for use in (lambda: run_results.read(tmp_path), lambda: run_results.record(tmp_path, {"test/acc": 0.5})):
        with pytest.raises(ConfigError) as refused:
            use()
        assert str(refused.value).startswith(f"{path} is not the results file fit writes (") and problem in str(
            refused.value
        )
    assert path.read_bytes() == content


def test_every_checkpoint_records_the_metrics_so_far_so_a_run_stopped_after_its_last_validation_keeps_them(
    tiny_mnist, tmp_path, monkeypatch
):
    # The Trainer alone: fit's own record at the end is not run. One epoch of a small network: it validates once.
    cli = fit_in_process(tiny_mnist, tmp_path, monkeypatch, "--model.network.hidden_size=16", "--trainer.max_epochs=1")
    recorded = run_results.read(cli.run)["metrics"]
    assert recorded["val/acc_best"] == float(cli.trainer.callback_metrics["val/acc_best"])
