"""The plugin docs cannot rot: every hook, context method and setting is documented, and the
tutorial's code is the example package's code, line for line."""

from __future__ import annotations

import re

import pytest

from c2c_hub.plugin import spec
from c2c_hub.settings import PluginSettings
from c2c_hub.subdevices import SourceContext
from tests.plugin.conftest import REPO

DOCS = REPO / "docs" / "plugins"
EXAMPLE = DOCS / "example"
RECEIVER = DOCS / "receiver"
#: Each page and the package its blocks are tied to.
PAGES = {"index.md": EXAMPLE, "testing.md": EXAMPLE, "hooks.md": EXAMPLE, "new-kind.md": RECEIVER}
HOOKS = (DOCS / "hooks.md").read_text()
BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)```", re.S)


def hookspecs() -> list[str]:
    return sorted(n for n, f in vars(spec).items() if hasattr(f, f"{spec.PROJECT}_spec"))


def headings(text: str) -> list[str]:
    return re.findall(r"^#+ (.+)$", text, re.M)


def test_there_are_hooks_to_document() -> None:
    assert hookspecs() == [
        "register_device_kinds",
        "register_device_models",
        "register_routes",
        "register_sources",
    ]


@pytest.mark.parametrize("hook", hookspecs())
def test_every_hook_has_a_heading_in_hooks_md(hook: str) -> None:
    assert re.search(rf"^## {hook}$", HOOKS, re.M), f"docs/plugins/hooks.md: no '## {hook}'"


def test_hooks_md_documents_no_hook_that_does_not_exist() -> None:
    documented = [h for h in headings(HOOKS) if h.startswith("register_")]
    assert sorted(documented) == hookspecs()


@pytest.mark.parametrize("member", sorted(n for n in vars(SourceContext) if not n.startswith("_")))
def test_every_source_context_method_is_documented(member: str) -> None:
    assert any(re.match(rf"`ctx\.{member}\b", h) for h in headings(HOOKS)), (
        f"docs/plugins/hooks.md: no heading for ctx.{member}"
    )


@pytest.mark.parametrize("name", sorted(PluginSettings.model_fields))
def test_every_plugin_setting_is_documented(name: str) -> None:
    assert f"`plugins.{name}`" in HOOKS


def blocks(doc: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for match in BLOCK.finditer((DOCS / doc).read_text()):
        found.setdefault(match["path"], []).append(match["code"])
    return found


def nonblank(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ("index.md", "pyproject.toml"),
        ("index.md", "c2c_hub_tone_mics/__init__.py"),
        ("testing.md", "tests/test_tone_mics.py"),
        ("new-kind.md", "pyproject.toml"),
        ("new-kind.md", "c2c_hub_wireless_rx/device_models/wireless-receiver.toml"),
        ("new-kind.md", "c2c_hub_wireless_rx/__init__.py"),
        ("new-kind.md", "tests/test_wireless_rx.py"),
    ],
)
def test_the_docs_show_the_example_package_exactly(doc: str, path: str) -> None:
    source = (PAGES[doc] / path).read_text()
    shown = blocks(doc).get(path)
    assert shown, f"{doc} shows no block of {path}"
    for code in shown:
        assert code in source, f"{doc}: a block of {path} differs from the file:\n{code}"
    # together, in order, the blocks are the whole file (blank lines between them aside)
    assert nonblank("".join(shown)) == nonblank(source), f"{doc} does not show all of {path}"


def test_every_block_the_docs_tie_to_a_file_names_a_file_of_the_example() -> None:
    for doc, package in PAGES.items():
        for path in blocks(doc):
            assert (package / path).is_file(), f"{doc}: no such file {package.name}/{path}"


def test_the_docs_link_only_to_what_exists() -> None:
    for doc in PAGES:
        text = (DOCS / doc).read_text()
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (DOCS / target).exists(), f"{doc}: broken link {target}"


def test_the_anchors_hooks_md_links_to_exist() -> None:
    anchors = {re.sub(r"[^a-z0-9_ -]", "", h.lower()).replace(" ", "-") for h in headings(HOOKS)}
    for anchor in re.findall(r"\]\(#([^)]+)\)", HOOKS):
        assert anchor in anchors, f"hooks.md: no heading for #{anchor}"
