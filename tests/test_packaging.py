"""What we ship: the wheel, a clean install of it that runs the demo, and the licences it pulls in.

The wheel is built from a copy of the files a source distribution needs (never from the checkout,
where a stale ``build/`` could lend it files), checked, then installed into a fresh virtualenv
(not editable, no system site-packages, dependencies pinned by ``constraints.txt``). The hub in
that virtualenv runs ``c2c-hub demo`` from a directory outside the checkout: anything it still
found relative to the checkout would be missing there.

Licences: the hub is MIT and meant to ship inside recorders, so no package of its runtime
dependency closure may be under a strong copyleft licence (GPL, AGPL); GPL packages are allowed
as test tools only. Weak copyleft (LGPL, MPL) is shippable and allowed. docs/licences.md lists
what we found.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
IMPORT_NAMES = {"c2c_hub", "c2c_hub_plugins"}
# What the build needs, and nothing else of the checkout.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "hub", "plugins", "device_models")
# Generous bounds: on a machine shared with other builds, pip and the demo can be slow.
BUILD_TIMEOUT_S = 300
INSTALL_TIMEOUT_S = 900
DEMO_TIMEOUT_S = 300


def _clean_env() -> dict[str, str]:
    """This process's environment without what would lead a child to the checkout or our venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("C2C_HUB_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(command: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _package_dirs() -> dict[str, Path]:
    """Every import package of the tree by import name, found from the folders (``__init__.py``)."""
    found: dict[str, Path] = {}
    for name, folder in SETUPTOOLS["package-dir"].items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(root)
            found[".".join((name, *relative.parts))] = init.parent
    return found


# ---------------------------------------------------------------------------------- the wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "c2c-hub"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist)]
    result = _run([*command, str(source)], cwd=source, timeout=BUILD_TIMEOUT_S)
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    (built,) = dist.glob("c2c_hub-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_packages_list_in_pyproject_is_the_whole_tree() -> None:
    """A new subpackage of hub/ or plugins/ must be in pyproject.toml, or the wheel lacks it."""
    assert sorted(SETUPTOOLS["packages"]) == sorted(_package_dirs())


def test_the_wheel_claims_only_its_own_import_names(wheel_names: list[str]) -> None:
    tops = {name.split("/")[0] for name in wheel_names}
    info = {top for top in tops if top.endswith(".dist-info")}
    assert tops - info == IMPORT_NAMES
    generic = ("hub/", "plugins/", "tests/", "bench/")
    assert not any(name.startswith(generic) for name in wheel_names)


def test_the_wheel_carries_every_module_the_license_and_the_data(wheel_names: list[str]) -> None:
    names = set(wheel_names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), "no LICENSE"
    for package, folder in _package_dirs().items():
        prefix = package.replace(".", "/")
        for module in folder.glob("*.py"):
            assert f"{prefix}/{module.name}" in names, f"{module} is not in the wheel"
    models = sorted(path.name for path in (REPO / "device_models").glob("*.toml"))
    assert models, "no device model in device_models/"
    for model in models:
        assert f"c2c_hub/device_models_data/{model}" in names, f"device model {model} missing"
    for page in sorted((REPO / "hub" / "ui" / "web").iterdir()):
        assert f"c2c_hub/ui/web/{page.name}" in names, f"web page file {page.name} missing"
    assert "c2c_hub/py.typed" in names


def test_the_wheel_declares_the_entry_points(wheel: Path, wheel_names: list[str]) -> None:
    (entry_points,) = [n for n in wheel_names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(entry_points).decode()
    assert "c2c-hub = c2c_hub.ui.cli:main" in text
    for name, target in PYPROJECT["project"]["entry-points"]["c2c_hub"].items():
        assert f"{name} = {target}" in text


# ------------------------------------------------------------------ installed in a clean venv


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed as a user would (returns its bin/)."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    where = venv.parent
    result = _run([sys.executable, "-m", "venv", str(venv)], cwd=where, timeout=INSTALL_TIMEOUT_S)
    assert result.returncode == 0, f"venv failed:\n{result.stdout}\n{result.stderr}"
    bin_dir = venv / "bin"
    command = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet"]
    command += ["-c", str(REPO / "constraints.txt"), str(wheel)]
    result = _run(command, cwd=where, timeout=INSTALL_TIMEOUT_S)
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    return bin_dir


@pytest.mark.timeout(BUILD_TIMEOUT_S + INSTALL_TIMEOUT_S + DEMO_TIMEOUT_S + 120)
def test_the_installed_wheel_runs_the_demo_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    where = tmp_path / "elsewhere"
    where.mkdir()
    probe = (
        "import importlib.util, json, c2c_hub, c2c_hub_plugins;"
        "print(json.dumps([c2c_hub.__file__, c2c_hub_plugins.__file__,"
        " importlib.util.find_spec('hub'), importlib.util.find_spec('plugins')]))"
    )
    result = _run([str(installed / "python"), "-c", probe], cwd=where, timeout=DEMO_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    hub_file, plugins_file, hub_spec, plugins_spec = json.loads(result.stdout)
    site = installed.parent / "lib"
    assert Path(hub_file).is_relative_to(site) and Path(plugins_file).is_relative_to(site)
    assert hub_spec is None and plugins_spec is None  # no generic top-level name installed

    demo = [str(installed / "c2c-hub"), "demo", "--json", "--seconds", "4"]
    result = _run(demo, cwd=where, timeout=DEMO_TIMEOUT_S)
    assert result.returncode == 0, f"demo failed ({result.returncode}):\n{result.stderr[-4000:]}"
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["violations"] == []
    assert len(summary["tracks"]) >= 2
    for track in summary["tracks"]:
        assert track["state"] == "done" and track["asset_complete"] is True, track
    assert summary["logged_events"], "the remote's press never reached Frame.io"
    assert list(where.iterdir()) == [], "the demo left files in its working directory"


@pytest.mark.timeout(BUILD_TIMEOUT_S + INSTALL_TIMEOUT_S + 120)
def test_what_the_clean_install_pulled_in_is_the_runtime_closure_and_shippable(
    installed: Path,
) -> None:
    """pip's own resolution of the wheel's dependencies, checked against the same licence rule."""
    result = _run(
        [str(installed / "python"), "-c", _DUMP_LICENCES], cwd=installed, timeout=DEMO_TIMEOUT_S
    )
    assert result.returncode == 0, result.stderr
    records = [Licence(**record) for record in json.loads(result.stdout)]
    tools = {"pip", "setuptools"}  # what `python -m venv` puts there itself
    shipped = _names(records) - tools
    assert shipped == _names(runtime_closure("c2c-hub"))
    refused = [r for r in records if canonicalize_name(r.name) in shipped and not shippable(r)]
    assert not refused, f"strong copyleft at runtime: {refused}"


# ---------------------------------------------------------------------------------- licences


@dataclass(frozen=True)
class Licence:
    """What a distribution's metadata says about its licence."""

    name: str
    expression: str | None  # PEP 639 License-Expression (SPDX)
    text: str | None  # the older free-text License field
    classifiers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "classifiers", tuple(self.classifiers))


_DUMP_LICENCES = """
import importlib.metadata as md, json
out = []
for d in md.distributions():
    m = d.metadata
    classifiers = [c for c in m.get_all("Classifier") or [] if c.startswith("License ::")]
    out.append({"name": m["Name"], "expression": m.get("License-Expression"),
                "text": m.get("License"), "classifiers": classifiers})
print(json.dumps(out))
"""


def _licence(dist: importlib.metadata.Distribution) -> Licence:
    meta = dist.metadata
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return Licence(
        meta["Name"], meta.get("License-Expression"), meta.get("License"), tuple(classifiers)
    )


def runtime_closure(root: str) -> list[Licence]:
    """``root`` and every distribution it needs at run time (no extras of its own), as installed."""
    seen: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    found: dict[str, Licence] = {}
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen and extras <= seen[key]:
            continue
        seen.setdefault(key, set()).update(extras)
        dist = importlib.metadata.distribution(name)
        found[key] = _licence(dist)
        environments = [{"extra": extra} for extra in sorted(seen[key]) or [""]]
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate(env) for env in environments):
                continue
            todo.append((requirement.name, frozenset(requirement.extras)))
    return [found[key] for key in sorted(found)]


_STRONG_SPDX = re.compile(r"^A?GPL-")
# A GPL licence with one of these exceptions does not reach the code that links it.
_RUNTIME_EXCEPTIONS = re.compile(r"^(GCC-exception-|Classpath-exception-|LLVM-exception)")
_STRONG_TEXT = re.compile(
    r"(?<![L\w])A?GPL|(?<!lesser )(?<!library )(?<!library or lesser )general public license"
    r"|affero",
    re.IGNORECASE,
)


def _spdx_shippable(expression: str) -> bool:
    """Evaluate an SPDX expression: OR needs one shippable side, AND needs both."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expression)
    position = 0

    def term() -> bool:
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "(":
            value = either()
            position += 1  # ")"
            return value
        if position < len(tokens) and tokens[position].upper() == "WITH":
            exception = tokens[position + 1]
            position += 2
            return not _STRONG_SPDX.match(token) or bool(_RUNTIME_EXCEPTIONS.match(exception))
        return not _STRONG_SPDX.match(token)

    def both() -> bool:
        nonlocal position
        value = term()
        while position < len(tokens) and tokens[position].upper() == "AND":
            position += 1
            value = term() and value
        return value

    def either() -> bool:
        nonlocal position
        value = both()
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            value = both() or value
        return value

    return either()


def shippable(licence: Licence) -> bool:
    """False for a strong copyleft licence (GPL, AGPL) a recorder maker cannot ship with MIT code.

    The SPDX expression decides when there is one; else the classifiers (several are
    alternatives: one shippable is enough); else the free text. No licence at all is refused too:
    someone has to look.
    """
    if licence.expression:
        return _spdx_shippable(licence.expression)
    if licence.classifiers:
        return any(not _STRONG_TEXT.search(c.rsplit("::", 1)[-1]) for c in licence.classifiers)
    if licence.text and licence.text.strip():
        return not _STRONG_TEXT.search(licence.text)
    return False


def _names(licences: Iterable[Licence]) -> set[str]:
    return {canonicalize_name(licence.name) for licence in licences}


def test_the_runtime_closure_is_what_pyproject_asks_for() -> None:
    closure = _names(runtime_closure("c2c-hub"))
    for line in PYPROJECT["project"]["dependencies"]:
        assert canonicalize_name(Requirement(line).name) in closure
    test_tools = PYPROJECT["project"]["optional-dependencies"]["test"]
    assert not closure & {canonicalize_name(Requirement(line).name) for line in test_tools}


def test_no_runtime_dependency_is_under_a_strong_copyleft_licence() -> None:
    refused = [
        f"{licence.name}: {licence.expression or licence.classifiers or licence.text!r}"
        for licence in runtime_closure("c2c-hub")
        if not shippable(licence)
    ]
    assert not refused, "runtime dependencies a recorder maker cannot ship:\n" + "\n".join(refused)


OSI = "License :: OSI Approved ::"


@pytest.mark.parametrize(
    ("licence", "ok"),
    [
        (Licence("a", "MIT", None), True),
        (Licence("a", "LGPL-2.1-or-later", None), True),
        (Licence("a", "Apache-2.0 OR BSD-3-Clause", None), True),
        (Licence("a", "MIT AND (GPL-2.0-or-later OR AFL-2.1)", None), True),
        (Licence("a", "GPL-3.0-or-later WITH GCC-exception-3.1", None), True),
        (Licence("a", "GPL-2.0-only", None), False),
        (Licence("a", "MIT AND GPL-3.0-only", None), False),
        (Licence("a", "(MIT OR AGPL-3.0-only) AND GPL-2.0-or-later", None), False),
        (Licence("a", None, None, ("License :: OSI Approved :: MIT License",)), True),
        (Licence("a", None, None, (f"{OSI} GNU General Public License v2 (GPLv2)",)), False),
        (Licence("a", None, None, (f"{OSI} GNU Affero General Public License v3",)), False),
        (Licence("a", None, None, (f"{OSI} GNU Lesser General Public License v3 (LGPLv3)",)), True),
        (Licence("a", None, "GNU LESSER GENERAL PUBLIC LICENSE"), True),
        (Licence("a", None, "GPLv3"), False),
        (Licence("a", None, "BSD 3-Clause License"), True),
        (Licence("a", None, None), False),
    ],
)
def test_the_licence_rule(licence: Licence, ok: bool) -> None:
    """The rule itself can fail: GPL and AGPL are refused, LGPL and permissive licences pass."""
    assert shippable(licence) is ok
