"""The repository holds what its README and docs/ name: a file left out of git (an ignore rule that matched too much, a file
never added) works in the checkout that made it and fails in every clone."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A path of the repository's own folders, as the README writes one; placeholders (STUDY, version_N) are not files.
NAMED_PATH = re.compile(r"\b((?:configs|benchmarks|lit_rnn|docs|tests|\.ci)/[\w./-]*\w\.(?:py|yaml|png|md|html|txt))")


def named_paths() -> list[str]:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return sorted({path for page in pages for path in NAMED_PATH.findall(page.read_text())})


def test_the_readme_names_files_of_the_repository():
    assert {"configs/default.yaml", "lit_rnn/model/classifier.py", "docs/serve_page.png"} <= set(named_paths())


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("path", named_paths())
def test_every_file_the_readme_and_docs_name_is_in_git(path):
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=REPO, capture_output=True, text=True)
    assert tracked.returncode == 0, f"{path} is named in the README but is not in git: {tracked.stderr.strip()}"
