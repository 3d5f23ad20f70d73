"""The docs cannot rot: their links resolve, their anchors exist, the paths they name are there.

Checked in ``README.md`` and every page of ``docs/``: each relative link points at a file of the
repository (and, with ``#anchor``, at an anchor of that page: a heading or an
``<a id="...">``), and each path written as code (`` `hub/...` ``) exists. In the code, comments
and docstrings that point at ``docs/<page>.md#anchor`` must point at an anchor that exists.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.helpers import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_PATH = re.compile(r"`((?:hub|plugins|tests|bench|device_models|docs)/[^`\s]*)`")
CODE_ANCHOR = re.compile(r"docs/([\w./-]+\.md)#([\w-]+)")


def _slug(heading: str) -> str:
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    text = page.read_text(encoding="utf-8")
    found = set(re.findall(r"""<a (?:id|name)=["']([^"']+)["']""", text))
    found |= {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    return frozenset(found)


def _page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_relative_links_and_their_anchors_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{target}: no anchor #{anchor} in {where.relative_to(REPO)}")
    assert not broken, f"{_page_id(page)}:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_paths_named_as_code_exist(page: Path) -> None:
    missing = []
    for name in CODE_PATH.findall(page.read_text(encoding="utf-8")):
        if any(c in name for c in "{<"):  # a pattern, not a path
            continue
        name, _, test = name.partition("::")  # a test's node id: the file, and the test in it
        found = list(REPO.glob(name.rstrip("/")))
        if not found or (test and f"def {test}(" not in found[0].read_text(encoding="utf-8")):
            missing.append(f"{name}::{test}" if test else name)
    assert not missing, f"{_page_id(page)} names paths that do not exist: {missing}"


def test_the_codes_links_into_the_docs_resolve() -> None:
    broken = []
    for folder in ("hub", "plugins", "tests", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for page, anchor in CODE_ANCHOR.findall(line):
                    target = REPO / "docs" / page
                    if not target.is_file() or anchor not in anchors(target):
                        broken.append(f"{path.relative_to(REPO)}:{number}: docs/{page}#{anchor}")
    assert not broken, "links to anchors that do not exist:\n" + "\n".join(broken)
