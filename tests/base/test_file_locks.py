"""The one lock helper: a lock is held while its file is open, and whoever else asks sees it taken."""

import pytest

from lit_rnn.base.file_locks import locked, try_lock


def test_a_lock_is_held_while_its_file_is_open_and_free_once_closed(tmp_path):
    path = tmp_path / ".lock"
    owner = try_lock(path)
    assert owner is not None and try_lock(path) is None and try_lock(path, shared=True) is None
    owner.close()
    probe = try_lock(path, shared=True, create=False)
    assert probe is not None and try_lock(path, shared=True) is not None  # shared locks: many at once
    assert try_lock(path) is None  # but none exclusive meanwhile
    probe.close()


def test_a_claimant_that_fails_leaves_the_owners_words_in_the_file(tmp_path):
    path = tmp_path / ".lock"
    owner = try_lock(path)
    owner.write("process 1 on here\n")
    owner.flush()
    assert try_lock(path) is None
    assert path.read_text() == "process 1 on here\n"


def test_a_probe_does_not_create_the_lock_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        try_lock(tmp_path / ".lock", shared=True, create=False)
    assert not (tmp_path / ".lock").exists()


def test_a_locked_block_holds_the_lock_until_it_ends(tmp_path):
    path = tmp_path / "study.db.lock"
    with locked(path):
        assert try_lock(path) is None
    assert try_lock(path) is not None
