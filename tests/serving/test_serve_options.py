"""The server's options and key: each value no server could run with is one ``error:`` line, exit 2, before anything
starts (the checkpoint named here does not exist: an option checked later would end in its error instead)."""

import math
import os

import pytest

from lit_rnn.serve import MAX_PAYLOAD_MB, MAX_WORKERS, MIN_PAYLOAD_MB, REQUEST_TIMEOUT, main

# Each option's values on both sides of each boundary, and its other bad values; each refused, naming its option.
REFUSED = {
    "--batch_timeout": [str(REQUEST_TIMEOUT), "30.0000001", "1e9", "inf", "-inf", "nan", "-0.001", "1e400", "x", ""],
    "--max_payload_mb": ["inf", "nan", "-1", "0", str(MIN_PAYLOAD_MB / 2), str(MAX_PAYLOAD_MB * 1.01), "1e400", "4MB"],
    "--max_batch_size": ["0", "-1", "1.5", "1e3", "inf", "nan", "9" * 5_000, "0x10"],
    "--workers": ["0", "-3", str(MAX_WORKERS + 1), "2.0", "nan", "10" * 3],
    "--port": ["1023", "65536", "0", "-1", "80.5", "http"],
    "--api_key": ["", " key", "key ", "a\nb", "tab\tkey", "\x00"],
}
ACCEPTED = {  # the values at the boundaries, on their good side
    "--batch_timeout": ["0", "-0", "29.999", "1e-400"],
    "--max_payload_mb": [str(MIN_PAYLOAD_MB), str(MAX_PAYLOAD_MB), "4"],
    "--max_batch_size": ["1", str(10**12)],
    "--workers": ["1", str(MAX_WORKERS)],
    "--port": ["1024", "65535"],
    "--api_key": ["k", "ключ", "x" * 500],
}
MISSING = "none.ckpt"


def serve(capsys, *args: str) -> str:
    """The one line ``serve`` ends with, its exit code asserted to be 2."""
    with pytest.raises(SystemExit) as exit:
        main([*args, "--ckpt_path", MISSING])
    assert exit.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize("option", list(REFUSED))
def test_each_bad_value_of_each_option_is_one_line_before_anything_starts(option, capsys):
    for value in REFUSED[option]:
        line = serve(capsys, f"{option}={value}")
        assert option in line and MISSING not in line, (value, line)
        assert len(line) < 400, line  # a long value is shortened


@pytest.mark.parametrize("option", list(ACCEPTED))
def test_the_values_at_each_boundary_are_taken(option, capsys):
    for value in ACCEPTED[option]:
        line = serve(capsys, f"{option}={value}", "--port=1024" if option != "--port" else f"--port={value}")
        assert MISSING in line, (value, line)  # it went on as far as the checkpoint


def test_the_batch_timeouts_bound_is_the_request_timeout_litserve_is_given(tmp_path):
    """LitServe takes the largest batch timeout serve takes, and refuses one above the request timeout it is given
    (with a ValueError, "this is a bug" before serve checked it). Serve refuses the bound itself too: a request that
    waited that long for its batch would time out."""
    from lit_rnn.serving.digit_api import DigitAPI
    from lit_rnn.serving.server import PipedServer

    def server(batch_timeout: float) -> PipedServer:
        return PipedServer(
            DigitAPI(tmp_path / MISSING, max_batch_size=2, batch_timeout=batch_timeout), timeout=REQUEST_TIMEOUT
        )

    server(math.nextafter(REQUEST_TIMEOUT, 0))
    with pytest.raises(ValueError, match="batch_timeout must be less than request_timeout"):
        server(math.nextafter(REQUEST_TIMEOUT, math.inf))


@pytest.mark.parametrize(("value", "phrase"), [("", "set but empty"), (" k3y", "no space at either end")])
def test_the_key_in_the_environment_is_checked_as_the_option(value, phrase, capsys, monkeypatch):
    monkeypatch.setenv("LIT_RNN_API_KEY", value)
    line = serve(capsys)
    assert "$LIT_RNN_API_KEY" in line and phrase in line
    monkeypatch.setenv("LIT_RNN_API_KEY", "k3y")
    assert MISSING in serve(capsys)
    assert MISSING in serve(capsys, "--api_key", "other")  # the option wins over the environment
    monkeypatch.delenv("LIT_RNN_API_KEY")
    assert "LIT_RNN_API_KEY" not in os.environ and MISSING in serve(capsys)
