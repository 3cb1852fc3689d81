"""The one YAML reader: every file it cannot use is one line naming the file, left as it was, and a file of nested
aliases that would expand without bound is refused before anything expands it."""

import pytest

from lit_rnn.base.yaml_files import MAX_VALUES, YAMLFileError, read_yaml


def laughs(levels: int) -> bytes:
    """The "billion laughs" file: each level lists the one before nine times, so the last stands for 9**levels."""
    lines = ['l0: &l0 ["lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels + 1)]
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    "content, problem",
    [
        (laughs(9), "expands to more than 100,000 values"),
        (b"a: &a [1, *a]\n", "expands to more than 100,000 values, or without end"),
        (b"trainer:\n  max_epochs: 1\0\n", "holds a NUL byte"),
        (b"model:\n  cell: gr\xfc\n", "is not UTF-8 text (byte 17 is 0xfc)"),
        (b"trainer: [1, 2\n", "is not valid YAML: expected ',' or ']', but got '<stream end>' at line 2, column 1"),
        (
            b"trainer:\n\t max_epochs: 1\n",
            "is not valid YAML: found character '\\t' that cannot start any token at line 2",
        ),
        (b"[" * 3000 + b"]" * 3000, "nests its values too deeply to be read"),
    ],
    ids=["billion-laughs", "self-alias", "nul", "latin-1", "unclosed", "tab", "deep"],
)
def test_a_file_that_cannot_be_used_is_one_line_naming_it_and_is_left_as_it_was(tmp_path, content, problem):
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(YAMLFileError) as refused:
        read_yaml(path, "Fix it.")
    message = str(refused.value)
    assert message.startswith(f"{path} {problem}") and message.endswith(". Fix it.") and "\n" not in message
    assert path.read_bytes() == content


def test_aliases_within_bounds_and_plain_files_read_as_yaml_says(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(laughs(4) + b"\ntrainer: {max_epochs: 2}\n")  # 9**4 = 6,561 values: within bounds
    data = read_yaml(path, "Fix it.")
    assert len(data["l4"]) == 9 and data["l4"][0] is data["l3"] and data["trainer"] == {"max_epochs": 2}
    assert 9**4 < MAX_VALUES
    path.write_bytes(b"")
    assert read_yaml(path, "Fix it.") is None


def test_a_file_that_cannot_be_read_names_why(tmp_path):
    with pytest.raises(YAMLFileError, match=r"config.yaml cannot be read \(Is a directory\)\. Fix it\.$"):
        read_yaml((tmp_path / "config.yaml").mkdir() or tmp_path / "config.yaml", "Fix it.")
