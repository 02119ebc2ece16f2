"""Image recipes and the builder, against the real cache on this host."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

from tai_labs.images.builder import ImageBuilder
from tai_labs.images.progress import BuildProgress
from tai_labs.images.recipe import Recipe, RecipeBook, cache_key, default_recipes_dir
from tai_labs.images.store import BuiltImage
from tai_labs.providers.errors import ImageBuildError, RecipeError
from tai_labs.providers.mounts import mounts_under

ROLES = ("ad-dc", "router", "switch", "client")


def test_recipes_parse_and_layer_on_base() -> None:
    book = RecipeBook.from_dir()
    assert set(book.recipes) >= {"base", *ROLES}
    assert book.get("base").is_root
    for role in ROLES:
        assert [r.name for r in book.chain(role)] == ["base", role]
    keys = {book.key(name) for name in book.recipes}
    assert len(keys) == len(book.recipes)


def test_key_follows_content_and_parent() -> None:
    base = RecipeBook.from_dir().get("base")
    changed = base.model_copy(update={"packages": (*base.packages, "htop")})
    described = base.model_copy(update={"description": "only words changed"})
    assert cache_key(changed, None) != cache_key(base, None)
    assert cache_key(described, None) == cache_key(base, None)
    role = RecipeBook.from_dir().get("router")
    assert cache_key(role, "parent-a") != cache_key(role, "parent-b")


def test_bad_recipes_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(yaml.safe_dump({"name": "x", "packages": ["a"]}))
    with pytest.raises(RecipeError, match="exactly one"):
        RecipeBook.from_dir(tmp_path)
    (tmp_path / "x.yaml").write_text(yaml.safe_dump({"name": "y", "parent": "base"}))
    with pytest.raises(RecipeError, match="must be"):
        RecipeBook.from_dir(tmp_path)
    book = RecipeBook({"a": Recipe(name="a", parent="b"), "b": Recipe(name="b", parent="a")})
    with pytest.raises(RecipeError, match="cycle"):
        book.chain("a")


def test_base_is_built_then_cached(builder: ImageBuilder, base_image: BuiltImage) -> None:
    events: list[BuildProgress] = []
    started = time.monotonic()
    again = builder.build("base", progress=events.append)
    assert time.monotonic() - started < 2.0, "a cache hit must not rebuild"
    assert again.path == base_image.path
    assert [e.step for e in events] == ["cached"]
    assert any(s.name == "base" and s.built for s in builder.list())


def test_base_tree_is_generic(base_image: BuiltImage) -> None:
    root = base_image.rootfs
    # Identity is seeded per node: nothing host- or build-specific may be baked in.
    assert not list((root / "etc/ssh").glob("ssh_host_*"))
    assert (root / "etc/machine-id").read_text() == ""
    assert "nameserver" not in (root / "etc/resolv.conf").read_text()
    assert (
        root / "etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
    ).is_symlink()
    assert (root / "usr/sbin/sshd").exists()
    assert not (root / "usr/sbin/policy-rc.d").exists()
    assert not list((root / "var/cache/apt/archives").glob("*.deb"))
    assert mounts_under(base_image.path.parent) == []


def test_failed_and_interrupted_builds_leave_nothing(
    builder: ImageBuilder, base_image: BuiltImage, tmp_path: Path
) -> None:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    shutil.copy(default_recipes_dir() / "base.yaml", recipes / "base.yaml")
    (recipes / "broken.yaml").write_text(
        yaml.safe_dump({"name": "broken", "parent": "base", "post_install": [["false"]]})
    )
    (recipes / "cut.yaml").write_text(
        yaml.safe_dump({"name": "cut", "parent": "base", "packages": ["hello"]})
    )
    local = ImageBuilder(RecipeBook.from_dir(recipes), data=builder.data)
    store = local.store

    with pytest.raises(ImageBuildError, match="broken"):
        local.build("broken")
    assert store.failed_log("broken").is_file()

    def interrupt(event: BuildProgress) -> None:
        if event.image == "cut" and event.step == "install":
            raise KeyboardInterrupt  # what Ctrl-C does mid-apt

    with pytest.raises(KeyboardInterrupt):
        local.build("cut", progress=interrupt)

    for name in ("broken", "cut"):
        assert store.of_name(name) == []
        assert not list(store.root.glob(f".build-{name}-*"))
        assert not list(store.root.glob(f"{name}-*"))
        store.failed_log(name).unlink(missing_ok=True)
        (store.root / f".lock-{name}").unlink(missing_ok=True)
    assert mounts_under(store.root) == []


# What each role layer must contain, checked on the built tree.
ROLE_CHECKS = {
    "ad-dc": ["usr/sbin/samba", "usr/bin/samba-tool", "usr/bin/kinit", "usr/bin/ldbsearch"],
    "router": ["usr/lib/frr/zebra", "usr/sbin/dnsmasq", "usr/sbin/dhcrelay", "usr/sbin/nft"],
    "switch": ["usr/bin/ovs-vsctl", "usr/sbin/brctl"],
    "client": [
        "usr/bin/smbclient",
        "sbin/mount.cifs",
        "usr/bin/kinit",
        "usr/bin/ldapsearch",
        "usr/bin/lp",
    ],
}


@pytest.mark.parametrize("role", ROLES)
def test_role_image_builds_on_base(
    builder: ImageBuilder, base_image: BuiltImage, role: str
) -> None:
    image = builder.build(role)
    assert image.parent == "base" and image.parent_key == base_image.key
    root = image.rootfs
    for path in ROLE_CHECKS[role]:
        assert (root / path).exists(), f"{role} lacks /{path}"
    assert not list((root / "etc/ssh").glob("ssh_host_*"))
    if role == "ad-dc":
        for unit in ("smbd", "nmbd", "winbind"):
            assert str((root / f"etc/systemd/system/{unit}.service").readlink()) == "/dev/null"
        assert not (root / "etc/samba/smb.conf").exists()
