"""Plugin groups loaded from several threads at once (the portal opens labs in worker
threads): a lookup waits for the import another thread began, never finds the module
marked loaded with its classes not yet registered."""

from __future__ import annotations

import threading
import time
from importlib.metadata import EntryPoint

import pytest

from tai_labs import plugins


def test_a_lookup_during_another_threads_import_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = plugins._Group("action", "tai_labs.test-threads")
    monkeypatch.setattr(
        group, "entry_points", lambda: [EntryPoint("slow", "slow_module", group.group)]
    )

    def slow_import(kind: str, ep: EntryPoint) -> None:
        time.sleep(0.3)  # a plugin module taking its time to import
        group.items["linux.user"] = object

    monkeypatch.setattr(plugins, "_import", slow_import)
    found: list[bool] = []

    def look_up() -> None:
        group.load()
        found.append("linux.user" in group.items)

    threads = [threading.Thread(target=look_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [True] * 6
