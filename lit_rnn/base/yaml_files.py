"""The one reader of the YAML files the project reads (``--config`` files, a run's ``config.yaml``): whatever is wrong
with one is a single line naming the file, and the file is left as it was.

A YAML file is only data, but not every file is harmless: nested aliases ("billion laughs") make a file of a kilobyte
stand for billions of values, which PyYAML builds as shared references in a moment and every reader after it (the
command-line parser, a copy, a dump) expands until memory runs out. Such a file is refused by its expanded size.
"""

import math
from pathlib import Path
from typing import Any

import yaml

from lit_rnn.base.errors import ConfigError

MAX_VALUES = 100_000  # a config has a few hundred; far beyond any real one, and parsed in well under a second


class YAMLFileError(ConfigError):
    """A YAML file that cannot be used; the message names it and says what to do."""


def read_yaml(path: Path, fix: str) -> Any:
    """The data in the YAML file ``path``; ``fix`` ends a refusal with what the user can do about it.

    Raises:
        YAMLFileError: the file cannot be read, is not UTF-8 text, holds a NUL byte, is not valid YAML, or expands
            to more than ``MAX_VALUES`` values.
    """

    def refuse(problem: str) -> YAMLFileError:
        return YAMLFileError(f"{path} {problem}. {fix}", f"{path} {problem}")

    try:
        data = path.read_bytes()
    except OSError as error:
        raise refuse(f"cannot be read ({error.strerror})") from None
    if b"\0" in data:
        raise refuse("holds a NUL byte, so it is not a text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise refuse(f"is not UTF-8 text (byte {error.start} is {data[error.start]:#04x})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}) > MAX_VALUES:
            raise refuse(
                f"expands to more than {MAX_VALUES:,} values, or without end, through its aliases (&name, *name)"
            )
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise refuse(f"is not valid YAML: {error.problem or error.context}{where}") from None
    except yaml.YAMLError as error:
        raise refuse(f"is not valid YAML: {' '.join(str(error).split())}") from None
    except RecursionError:
        raise refuse("nests its values too deeply to be read") from None


def _expanded_size(node: yaml.Node, sizes: dict[int, float]) -> float:
    """How many values ``node`` stands for once every alias is copied out (infinite where it contains itself);
    each shared node is measured once."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = math.inf  # until measured: met again inside itself, it is an alias of its own ancestor
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(key, sizes) + _expanded_size(value, sizes) for key, value in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size
