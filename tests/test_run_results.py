"""A run's results file, the seam between fit and the commands that compare runs: what it holds, and how a resumed
run adds to it."""

import torch

from lit_rnn import run_results


def test_a_run_without_results_reads_as_none(tmp_path):
    assert run_results.read(tmp_path) is None


def test_results_hold_the_last_value_of_each_metric_and_a_resume_keeps_what_it_does_not_log_again(tmp_path):
    run_results.record(tmp_path, {"val/loss": torch.tensor(0.5), "val/acc_best": torch.tensor(0.75)}, train_seconds=3.0)
    run_results.record(tmp_path, {"test/acc": 0.875})  # the test, after training
    run_results.record(tmp_path, {"val/loss": torch.tensor(0.25)}, train_seconds=1.0)  # a resume of the same run
    assert run_results.read(tmp_path) == {"metrics": {"val/loss": 0.25, "val/acc_best": 0.75, "test/acc": 0.875},
                                          "train_seconds": 1.0}
    assert [path.name for path in tmp_path.iterdir()] == [run_results.RESULTS_NAME]  # written whole, nothing beside
