"""Image recipes and the builder, against the real cache on this host."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import Lab
from tai_labs.images.builder import ImageBuilder
from tai_labs.images.errors import ImageBuildError, RecipeError
from tai_labs.images.offline import SOURCES_LIST, repo_dir
from tai_labs.images.progress import BuildProgress
from tai_labs.images.recipe import Recipe, RecipeBook, cache_key
from tai_labs.images.store import BuiltImage
from tai_labs.locations import locations
from tai_labs.providers.cleanup import cleanup_lab
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
    shutil.copy(locations().recipes / "base.yaml", recipes / "base.yaml")
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
        # realm join needs polkit's daemon and sss_cache (see images/client.yaml)
        "usr/lib/polkit-1/polkitd",
        "usr/sbin/sss_cache",
        "etc/realmd.conf",
        "var/lib/tai-labs-repo/Packages",
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


def test_offline_packages_install_in_a_node_without_network(
    builder: ImageBuilder, base_image: BuiltImage, make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    shutil.copy(locations().recipes / "base.yaml", recipes / "base.yaml")
    (recipes / "offline.yaml").write_text(
        yaml.safe_dump({"name": "offline", "parent": "base", "offline_packages": ["p7zip-full"]})
    )
    # A layer on it installs from the mirrors at build time and keeps the offline source.
    (recipes / "offline-kid.yaml").write_text(
        yaml.safe_dump({"name": "offline-kid", "parent": "offline", "packages": ["hello"]})
    )
    local = ImageBuilder(RecipeBook.from_dir(recipes), data=builder.data)
    lab = make_lab()
    try:
        image = local.build("offline-kid")
        for name in ("offline", "offline-kid"):
            root = local.get(name).rootfs
            debs = sorted(p.name.split("_")[0] for p in repo_dir(root).glob("*.deb"))
            # p7zip-full and the dependency the base image lacks; nothing already installed
            assert debs == ["p7zip", "p7zip-full"], name
            assert (root / "etc/apt/sources.list").read_text() == SOURCES_LIST
            lists = [p.name for p in (root / "var/lib/apt/lists").glob("*_*")]
            assert lists and all(n.startswith("_var_lib_tai-labs-repo_") for n in lists), lists
            assert not list((root / "var/cache/apt/archives").glob("*.deb"))
        assert (image.rootfs / "usr/bin/hello").exists()

        lab.image = image
        node = lab.add_node("n", {"lan": "10.6.0.1/24"})
        # Nothing outside the lab answers: a mirror would not be reached.
        assert not lab.engine.exec(
            node, ["curl", "-sS", "-m", "5", "http://deb.debian.org/debian/"]
        ).ok
        env = ["env", "DEBIAN_FRONTEND=noninteractive"]
        # Installs straight from the lists in the image, then again after an update.
        installed = lab.engine.exec(node, [*env, "apt-get", "install", "-y", "p7zip-full"])
        assert installed.ok, installed.stdout + installed.stderr
        assert lab.engine.exec(node, ["7z", "i"]).ok
        started = time.monotonic()
        update = lab.engine.exec(node, ["apt-get", "update", "--error-on=any"], timeout=30)
        assert update.ok, update.stdout + update.stderr
        assert time.monotonic() - started < 10
        again = lab.engine.exec(node, [*env, "apt-get", "install", "-y", "--reinstall", "p7zip"])
        assert again.ok, again.stdout + again.stderr
    finally:
        cleanup_lab(lab.lab_id)
        for name in ("offline-kid", "offline"):
            local.remove(name)
            (local.store.root / f".lock-{name}").unlink(missing_ok=True)
