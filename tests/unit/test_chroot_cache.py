"""Two image builds at once (two labs' `up` in selftest threads) share the .deb cache: their
chroots must take turns, since apt locks ``archives/lock`` without waiting."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from tai_labs.images import chroot


def test_two_chroots_over_one_cache_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mounts are root's; the turn-taking is what this tests.
    monkeypatch.setattr(chroot, "_mount", lambda argv, target, done: done.append(target))
    monkeypatch.setattr(chroot, "unmount", lambda mnt: None)
    monkeypatch.setattr(chroot, "unmount_tree", lambda root: [])
    cache = tmp_path / "apt-cache"
    inside = 0
    most = 0
    guard = threading.Lock()

    def build(name: str) -> None:
        nonlocal inside, most
        root = tmp_path / name
        (root / "usr/sbin").mkdir(parents=True)
        (root / "etc").mkdir()
        with chroot.mounted_chroot(root, cache, io.BytesIO()):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.2)  # apt running
            with guard:
                inside -= 1

    threads = [threading.Thread(target=build, args=(n,)) for n in ("ad-dc", "router")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
