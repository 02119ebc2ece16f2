from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tai_labs.actions.base import ACTIONS
from tai_labs.errors import TaiLabsError
from tai_labs.faults.base import FAULTS
from tai_labs.grading.base import CHECKS, Check
from tai_labs.plugins import Plugin, PluginParams, Registry, UnknownPluginError

ALL = [*CHECKS, *FAULTS, *ACTIONS]


def test_catalogue_covers_the_issue_lists() -> None:
    assert len(CHECKS.names()) >= 40
    assert len(FAULTS.names()) >= 30
    for name in (
        "ad.user",
        "ad.gpo",
        "netdev.trunk",
        "probe.dhcp",
        "probe.smb",
        "windows.defender",
    ):
        assert name in CHECKS
    for name in ("ad.account_locked", "net.dhcp_relay_missing", "linux.print_queue_paused"):
        assert name in FAULTS


@pytest.mark.parametrize("plugin", ALL, ids=lambda p: p.name)
def test_every_plugin_is_described_and_strict(plugin: type[Plugin[Any]]) -> None:
    assert plugin.summary and plugin.name.count(".") == 1
    assert plugin.Params.model_config.get("extra") == "forbid"
    if plugin in FAULTS:
        assert plugin.symptom  # type: ignore[attr-defined]


def test_unknown_names_suggest_close_ones() -> None:
    with pytest.raises(UnknownPluginError) as info:
        CHECKS.get("linux.servise")
    assert info.value.hint is not None
    assert info.value.hint.startswith("did you mean 'linux.service'")


def test_a_name_cannot_be_registered_twice() -> None:
    registry: Registry[Plugin[Any]] = Registry("thing", "tai_labs.tests.things", Plugin)

    class A(Plugin):
        name = "x.a"
        summary = "a"

    class B(Plugin):
        name = "x.a"
        summary = "b"

    registry.register(A)
    with pytest.raises(TaiLabsError, match="registered twice"):
        registry.register(B)


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        CHECKS.get("linux.service").Params.model_validate({"service": "ssh", "activ": True})


def test_missing_parts_are_reported_not_hidden() -> None:
    class Half(PluginParams):
        pass

    assert CHECKS.get("ad.user").missing_parts() in ([], ["collect", "judge"])
    assert set(FAULTS.get("ad.account_locked").missing_parts()) <= {"inject", "in_place"}


class _EntryPoint:
    """An entry point of a (fake) distribution, loading with ``load``."""

    def __init__(self, name: str, dist: str, load: Any, group: str = "tai_labs.tests.g") -> None:
        self.name, self.value, self.group = name, f"{dist.replace('-', '_')}.{name}", group
        self.dist = type("Dist", (), {"name": dist})()
        self.load = load


def _fail() -> None:
    raise ImportError("no module named 'missing_lib'")


def test_a_broken_plugin_module_of_ours_names_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "tai_labs.plugins.entry_points", lambda group: [_EntryPoint("broken", "tai-labs", _fail)]
    )
    registry: Registry[Plugin[Any]] = Registry("thing", "tai_labs.tests.own", Plugin)
    with pytest.raises(TaiLabsError, match=r"entry point 'broken' of tai-labs.*missing_lib"):
        registry.get("x.a")


def test_a_broken_third_party_plugin_module_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    registry: Registry[Plugin[Any]] = Registry("thing", "tai_labs.tests.theirs", Plugin)

    def load() -> None:
        @registry.register
        class Fine(Plugin[PluginParams]):
            name = "x.fine"
            summary = "fine"

    monkeypatch.setattr(
        "tai_labs.plugins.entry_points",
        lambda group: [
            _EntryPoint("broken", "someone-checks", _fail),
            _EntryPoint("fine", "someone-checks", load),
        ],
    )
    assert registry.names() == ["x.fine"]
    assert "entry point 'broken' of someone-checks" in caplog.text


def test_a_plugin_named_like_its_entry_point_is_imported_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry: Registry[Plugin[Any]] = Registry("thing", "tai_labs.tests.alone", Plugin)
    loaded: list[str] = []

    def load(name: str) -> Any:
        def do() -> None:
            loaded.append(name)
            registry.register(type(name, (Plugin,), {"name": name, "summary": name}))

        return do

    monkeypatch.setattr(
        "tai_labs.plugins.entry_points",
        lambda group: [_EntryPoint(n, "tai-labs", load(n)) for n in ("vm", "container")],
    )
    assert registry.get("container").name == "container"
    assert loaded == ["container"]
    assert registry.declared() == ["container", "vm"]


def test_a_declared_plugin_without_its_methods_is_not_implemented() -> None:
    class Half(Check["Half.Params", Any]):
        name = "x.half"
        summary = "declared only"

        class Params(PluginParams):
            pass

    assert Half.missing_parts() == ["collect", "judge"]
    assert CHECKS.get("linux.service").missing_parts() == []


def test_every_engine_takes_the_constructor_the_lab_engine_calls() -> None:
    # LabEngine builds each engine as ENGINES.get(name)(lab_id, data=..., probe_image=...):
    # an engine whose __init__ does not accept that fails only when a lab is brought up.
    import inspect

    from tai_labs.providers.base import ENGINES

    assert ENGINES.names() == ["container", "vm"]
    for name in ENGINES.names():
        init = inspect.signature(ENGINES.get(name).__init__)
        init.bind(object(), "lab", data=None, probe_image=None)


def test_a_lookup_waits_for_a_module_another_thread_is_importing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deadline grades labs in threads, each loading its scenario: a thread must not find
    the entry point marked loaded while the other still imports it, and call a name unknown."""
    import threading

    registry: Registry[Plugin[Any]] = Registry("thing", "tai_labs.tests.threads", Plugin)
    importing, go_on = threading.Event(), threading.Event()

    def slow() -> None:
        importing.set()
        go_on.wait(5)
        registry.register(type("Slow", (Plugin,), {"name": "x.slow", "summary": "slow"}))

    monkeypatch.setattr(
        "tai_labs.plugins.entry_points", lambda group: [_EntryPoint("slow", "tai-labs", slow)]
    )
    first = threading.Thread(target=registry.names)
    first.start()
    assert importing.wait(5)
    found: list[Any] = []
    second = threading.Thread(target=lambda: found.append(registry.get("x.slow")))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for the import, not failing on an unknown name
    go_on.set()
    first.join(5)
    second.join(5)
    assert [c.name for c in found] == ["x.slow"]
