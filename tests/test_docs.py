"""The docs say what the code does: the README's question table is the questions asked."""

from __future__ import annotations

import re

from scaffold.questions import load_questions
from scaffold.source import load_copier_config

from .conftest import ROOT


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_readme_lists_the_questions_scaffold_new_asks_in_order() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `([a-z_]+)` \|", _section(readme, "## Create a service"), flags=re.M)
    config = load_copier_config(ROOT / "templates" / "copier.yml")
    asked = [q.name for q in load_questions(config) if q.when is not False]
    assert table == asked
