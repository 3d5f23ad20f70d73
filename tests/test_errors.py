"""The error tree: one root per zone a caller can catch, drawn in ``c2c_hub.errors``.

Every exception class of ``c2c_hub`` and ``c2c_hub_plugins`` derives from its zone's root (the
core's, the edge's, the test doubles'; a plugin's from the core's), and every public one is named
in the tree that ``c2c_hub.errors`` draws (or, for the Frame.io client and the uploader, in the
tree of their own ``errors`` module). No module imports another's private name.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import c2c_hub
import c2c_hub.errors
import c2c_hub.frameio.errors
import c2c_hub.uploader.errors
import c2c_hub_plugins
from c2c_hub.emulation.errors import EmulationError
from c2c_hub.errors import HubError
from c2c_hub.ui.errors import UIError
from tests.helpers import REPO, imports_in

ROOTS = {HubError, UIError, EmulationError}
OWN_TREES = (c2c_hub.frameio.errors, c2c_hub.uploader.errors)


def _modules() -> list[ModuleType]:
    found = []
    for package in (c2c_hub, c2c_hub_plugins):
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            found.append(importlib.import_module(info.name))
    return found


def _exception_classes() -> list[type[BaseException]]:
    classes = []
    for module in _modules():
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                classes.append(value)
    return sorted(set(classes), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _zone_root(module: str) -> type[HubError]:
    if module.startswith("c2c_hub.ui."):
        return UIError
    if module.startswith("c2c_hub.emulation."):
        return EmulationError
    return HubError


CLASSES = _exception_classes()


def test_the_tree_holds_the_classes_it_should() -> None:
    names = {cls.__name__ for cls in CLASSES}
    # a sample from each zone, so that a broken walk cannot pass by finding nothing
    assert {"SettingsError", "FrameioError", "ControlRefused", "ContractViolation"} <= names
    assert {"RadioError", "SdpError"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_error_derives_from_its_zones_root(cls: type[BaseException]) -> None:
    if cls in ROOTS:
        return
    root = _zone_root(cls.__module__)
    assert issubclass(cls, root), f"{cls.__qualname__} should derive from {root.__qualname__}"
    if root is HubError:  # the core and the plugins: not under another zone's root
        assert not issubclass(cls, (UIError, EmulationError))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_public_error_is_drawn_in_a_tree(cls: type[BaseException]) -> None:
    if cls.__name__.startswith("_"):
        return
    trees = [c2c_hub.errors.__doc__ or ""]
    trees += [module.__doc__ or "" for module in OWN_TREES if cls.__module__ == module.__name__]
    assert any(cls.__name__ in tree for tree in trees), f"{cls.__name__} is not in the tree"


def test_the_zone_roots_are_one_tree() -> None:
    assert issubclass(UIError, HubError) and issubclass(EmulationError, HubError)
    assert not issubclass(UIError, EmulationError) and not issubclass(EmulationError, UIError)


def test_reparenting_kept_what_existing_except_clauses_catch() -> None:
    """Errors that were ``ValueError``/``RuntimeError`` before they had a root still are."""
    from c2c_hub.device_models import DeviceModelError
    from c2c_hub.plugin.manager import PluginError
    from c2c_hub.recorder.takes import TakeError
    from c2c_hub.recorder.wav import WavFormatError
    from c2c_hub.settings import SettingsError
    from c2c_hub.subdevices import SubDeviceError
    from c2c_hub.uploader.queue import QueueClosed

    for cls in (DeviceModelError, SettingsError, SubDeviceError, WavFormatError):
        assert issubclass(cls, ValueError)
    for cls in (PluginError, TakeError, QueueClosed):
        assert issubclass(cls, RuntimeError)
    with pytest.raises(ValueError, match="bad field"):
        raise SettingsError("bad field")


def test_no_module_imports_another_modules_private_name() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line}: {name}"
        for path, line, module, name in imports_in(REPO / "hub", REPO / "plugins")
        if name is not None
        and module.startswith(("c2c_hub", "c2c_hub_plugins"))
        and name.startswith("_")
        and not name.startswith("__")
    ]
    assert not found, "private names imported across modules:\n" + "\n".join(found)
