"""Print pip constraints that pin each direct dependency of pyproject.toml, extras included, to its lower bound.

CI installs lit_rnn a second time with these (``PIP_CONSTRAINT``), so that the lowest versions the project claims to
support are the ones tested, not only the newest. torch and torchvision are left to the resolver: the machines install
the one build they hold on disk, and a bound below it would mean downloading gigabytes.
"""

import re
import sys
import tomllib
from pathlib import Path

LEFT_TO_THE_RESOLVER = {"torch", "torchvision"}
BOUND = re.compile(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def lowest_versions(pyproject: Path) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    lowest = {}
    for requirement in requirements:
        match = BOUND.match(requirement)
        if match and match[1].lower() not in LEFT_TO_THE_RESOLVER and match[1] != project["name"]:
            lowest[match[1].lower()] = match[3]
    return lowest


if __name__ == "__main__":
    pyproject = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1] / "pyproject.toml")
    for name, version in sorted(lowest_versions(pyproject).items()):
        print(f"{name}=={version}")
