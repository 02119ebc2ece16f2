"""Image recipes' offline_packages: parsing, cache key, inheritance, apt output parsing, and
that every package a scenario installs with apt can come from its node's image."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tai_labs.images.errors import RecipeError
from tai_labs.images.offline import Deb, parse_simulation
from tai_labs.images.recipe import Bootstrap, Recipe, RecipeBook, cache_key, load_recipe
from tai_labs.locations import locations
from tai_labs.scenario.loader import load_scenario
from tai_labs.scenario.model import Step


def test_offline_packages_parse_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "kiosk", "parent": "base", "offline_packages": ["nginx", "p7zip-full"]}
        )
    )
    recipe = load_recipe(path)
    assert recipe.offline_packages == ("nginx", "p7zip-full")
    assert recipe.packages == ()


def test_offline_packages_are_part_of_the_cache_key() -> None:
    plain = Recipe(name="x", parent="base", packages=("hello",))
    offline = plain.model_copy(update={"offline_packages": ("nginx",)})
    other = plain.model_copy(update={"offline_packages": ("p7zip-full",)})
    keys = {cache_key(r, "parent") for r in (plain, offline, other)}
    assert len(keys) == 3


def test_recipes_without_the_field_keep_their_key() -> None:
    # The digest this recipe had before offline_packages existed: images of recipes that do
    # not use it are not rebuilt.
    recipe = Recipe(name="x", parent="base", packages=("hello",))
    assert recipe.content_digest() == (
        "8387e791584328d5a60c597b71194780d016b91c5a7c65287c3f27d68401e4b4"
    )


@pytest.mark.parametrize("name", ["-o", "Nginx", "nginx=1.22", "a", "p7zip full"])
def test_bad_package_names_are_rejected(tmp_path: Path, name: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "parent": "base", "offline_packages": [name]}))
    with pytest.raises(RecipeError, match="offline_packages"):
        load_recipe(path)


def test_a_package_is_installed_or_offered_not_both(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "x", "parent": "base", "packages": ["nginx"], "offline_packages": ["nginx"]}
        )
    )
    with pytest.raises(RecipeError, match="both"):
        load_recipe(path)


def test_layers_inherit_the_offline_repository() -> None:
    book = RecipeBook(
        {
            "root": Recipe(name="root", bootstrap=Bootstrap()),
            "mid": Recipe(name="mid", parent="root", offline_packages=("nginx",)),
            "leaf": Recipe(name="leaf", parent="mid"),
            "other": Recipe(name="other", parent="root"),
        }
    )
    assert not book.has_offline_repo("root")
    assert book.has_offline_repo("mid")
    assert book.has_offline_repo("leaf")
    assert not book.has_offline_repo("other")


# Captured from `apt-get install -s p7zip-full unattended-upgrades` in the client image.
SIMULATION = """\
NOTE: This is only a simulation!
Reading package lists...
Building dependency tree...
The following NEW packages will be installed:
  p7zip p7zip-full unattended-upgrades
The following packages will be upgraded:
  liblzma5
Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/stable-security [amd64])
Inst p7zip (16.02+really26.02+dfsg-0+deb12u1 Debian-Security:12/stable-security [amd64])
Inst p7zip-full (16.02+really26.02+dfsg-0+deb12u1 Debian-Security:12/stable-security [amd64])
Inst unattended-upgrades (2.9.1+nmu3 Debian:12.11/stable [all])
Inst libfoo:amd64 (1:2.0-1 Debian:12.11/stable [amd64])
Conf liblzma5 (5.4.1-1+deb12u2 Debian-Security:12/stable-security [amd64])
Conf p7zip (16.02+really26.02+dfsg-0+deb12u1 Debian-Security:12/stable-security [amd64])
"""


def test_simulation_lists_what_apt_would_fetch() -> None:
    debs = parse_simulation(SIMULATION)
    assert [d.name for d in debs] == [
        "liblzma5",
        "p7zip",
        "p7zip-full",
        "unattended-upgrades",
        "libfoo",
    ]
    assert debs[0] == Deb("liblzma5", "5.4.1-1+deb12u2", "amd64")
    assert debs[3].filename == "unattended-upgrades_2.9.1+nmu3_all.deb"
    # apt quotes the epoch's colon in the names of the files it downloads
    assert debs[4].filename == "libfoo_1%3a2.0-1_amd64.deb"
    assert parse_simulation("0 upgraded, 0 newly installed, 0 to remove.\n") == []


def _installed_packages(steps: list[Step]) -> list[tuple[str | None, list[str]]]:
    return [
        (step.target, step.params["packages"])
        for step in steps
        if step.action == "linux.package" and step.params.get("state", "present") == "present"
    ]


def test_packages_scenarios_install_are_offered_by_their_images() -> None:
    book = RecipeBook.from_dir()
    files = sorted(locations().scenarios.glob("ccp*/*/scenario.yaml"))
    assert files
    for file in files:
        scenario = load_scenario(file).scenario
        if scenario.scenario.draft:
            continue  # a draft may wait for what its images do not have yet
        steps: list[Step] = [*scenario.setup, *scenario.solution.steps]
        for other in (*scenario.solution.alternatives, *scenario.solution.wrong):
            steps += other.steps
        for target, packages in _installed_packages(steps):
            assert target is not None
            image = scenario.node(target).kind.spec.image
            chain = book.chain(image)
            available = {p for r in chain for p in (*r.packages, *r.offline_packages)}
            missing = sorted(set(packages) - available)
            assert not missing, (
                f"{file.parent.name}: {target} installs {missing} with apt, but image {image!r}"
                " neither has them nor offers them offline (add to its offline_packages)"
            )
