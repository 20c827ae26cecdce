"""The README's Python example and every Python block of docs/python.md run as written,
from the repository's root."""

import os
import re

import pytest

from conftest import ROOT


def blocks(path, after=None):
    text = (ROOT / path).read_text()
    if after:
        text = text[text.index(after):]
        text = text[: text.find("\n## ", 1)] if "\n## " in text[1:] else text
    return re.findall(r"```python\n(.*?)```", text, re.S)


CASES = [("README.md", b) for b in blocks("README.md", "## From Python")] + [
    ("docs/python.md", b) for b in blocks("docs/python.md")
]


@pytest.mark.parametrize("path,code", CASES, ids=[f"{p}#{i}" for i, (p, _) in enumerate(CASES)])
def test_example_runs(path, code, monkeypatch):
    monkeypatch.chdir(ROOT)
    exec(compile(code, path, "exec"), {"__name__": "__doc_example__"})


def test_there_are_examples():
    assert len(CASES) >= 6
