"""The change audit ("modifications constatées"): what changed in the lab since exam start.

A correct fix that breaks something else passes every check that does not look there. The
audit lists, for the jury, what changed on each node and in the directory since the lab was
handed over, and marks what the scenario's checks are about as expected ("attendu"); the
rest is "hors périmètre", for the jury to weigh. It informs; it is never scored: a
``ChangeAudit`` in a ``GradeReport`` changes no points and no verdict.

This module is the typed model, the noise table and the pure parts (grouping, dpkg status,
systemd enablement links); ``lab.audit`` reads the lab and fills it.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tai_labs.sessions.base import DirectoryEntry

Change = Literal["created", "modified", "deleted"]
CHANGE_FR: dict[str, str] = {"created": "créé", "modified": "modifié", "deleted": "supprimé"}


# -- noise -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseRule:
    """Paths a running system changes by itself, left out of the file list (counted).

    ``pattern``: an absolute path whose segments may hold ``*`` (one segment); the rule takes
    the path and everything below it. ``label``: French, what the jury reads in the count.
    """

    pattern: str
    label: str
    why: str

    def matches(self, path: str) -> bool:
        want = PurePosixPath(self.pattern).parts
        have = PurePosixPath(path).parts
        return len(have) >= len(want) and all(
            fnmatch.fnmatchcase(h, w) for h, w in zip(have, want, strict=False)
        )


#: What the audit leaves out, and why. Each rule's count still shows in the report, so a
#: jury sees that (say) logs changed, without a thousand lines of them. Packages and services
#: are not lost by filtering their databases: they are read into sections of their own.
NOISE: tuple[NoiseRule, ...] = (
    NoiseRule("/tmp", "fichiers temporaires", "temporary files, gone at reboot"),
    NoiseRule("/var/tmp", "fichiers temporaires", "temporary files"),
    NoiseRule("/var/log", "journaux", "logs and the systemd journal grow on their own"),
    NoiseRule("/var/cache", "caches", "caches (apt archives, man, debconf, samba)"),
    NoiseRule("/var/backups", "sauvegardes automatiques", "daily dpkg/passwd backups"),
    NoiseRule("/var/lib/apt", "index des paquets", "apt lists and state, see packages"),
    NoiseRule("/var/lib/dpkg", "base des paquets (voir paquets)", "read as the package list"),
    NoiseRule("/etc/ld.so.cache", "cache de l'éditeur de liens", "rebuilt by every install"),
    NoiseRule("/var/lib/systemd", "état de systemd", "timers, random seed, catalog, linger"),
    NoiseRule("/var/lib/dhcp", "baux DHCP", "the DHCP client's leases renew on their own"),
    NoiseRule("/var/lib/logrotate", "rotation des journaux", "logrotate's state"),
    NoiseRule("/var/lib/chrony", "horloge", "the time daemon's drift file"),
    NoiseRule(
        "/var/lib/samba/private/sam.ldb*",
        "base de l'annuaire (voir annuaire)",
        "the directory database: read as directory changes, over LDAPS",
    ),
    NoiseRule("/var/lib/samba/*.tdb", "état de Samba", "Samba's runtime databases"),
    NoiseRule("/var/lib/samba/private/*.tdb", "état de Samba", "Samba's runtime databases"),
    NoiseRule("/var/lib/samba/lock", "état de Samba", "Samba's lock databases"),
    # The account tools' backup copies: the change shows on the file itself.
    NoiseRule("/etc/passwd-", "copies des comptes", "useradd/vipw's backup of /etc/passwd"),
    NoiseRule("/etc/shadow-", "copies des comptes", "the backup of /etc/shadow"),
    NoiseRule("/etc/group-", "copies des comptes", "the backup of /etc/group"),
    NoiseRule("/etc/gshadow-", "copies des comptes", "the backup of /etc/gshadow"),
    NoiseRule("/etc/subuid-", "copies des comptes", "the backup of /etc/subuid"),
    NoiseRule("/etc/subgid-", "copies des comptes", "the backup of /etc/subgid"),
    NoiseRule("/root/.bash_history", "historique du shell", "the candidate's own typing"),
    NoiseRule("/home/*/.bash_history", "historique du shell", "users' own typing"),
    NoiseRule("/root/.cache", "caches", "per-user caches"),
    NoiseRule("/home/*/.cache", "caches", "per-user caches"),
    NoiseRule("/root/.lesshst", "historique du shell", "less's history"),
    NoiseRule("/root/.viminfo", "historique du shell", "vim's history"),
    NoiseRule("/root/.local/share/nano", "historique du shell", "nano's history"),
    NoiseRule("/root/.wget-hsts", "caches", "wget's HSTS cache"),
)


def noise_label(path: str, rules: Sequence[NoiseRule] = NOISE) -> str | None:
    """The label of the first rule that takes ``path``, or None (the path is listed)."""
    return next((r.label for r in rules if r.matches(path)), None)


# -- the model ---------------------------------------------------------------------------------


class FileChangeRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    change: Change
    kind: str = Field(description="what it is now (what it was, when deleted)")
    detail: str = Field(default="", description="for a modification: what differs")
    entries: int = Field(default=0, description="a created directory: entries below it")
    target: str = Field(default="", description="a symbolic link: where it points")
    expected: bool = Field(default=False, description="a path the scenario's checks are about")


class FileGroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    directory: str
    count: int
    changes: list[FileChangeRow]


class PackageChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    change: Literal["installed", "removed", "upgraded"]
    before: str = ""
    after: str = ""


class ServiceChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    unit: str
    change: Literal["enabled", "disabled", "masked", "unmasked", "started", "stopped"]
    where: str = Field(
        default="",
        description="the .wants/.requires folder, the mask, or 'cgroup' for a service "
        "running now and not at exam start (started) or the other way round (stopped)",
    )
    expected: bool = Field(default=False, description="a service the scenario names")


class NodeAudit(BaseModel):
    model_config = ConfigDict(frozen=True)

    node: str
    audited: bool
    reason: str = Field(default="", description="why the node was not audited (French)")
    note: str = Field(default="", description="what the audit of this node leaves out (French)")
    files: list[FileGroup] = []
    file_count: int = 0
    filtered: dict[str, int] = Field(default={}, description="noise left out, per label")
    packages: list[PackageChange] = []
    services: list[ServiceChange] = []
    truncated: str = Field(default="", description="why the list is incomplete, if it is")
    unverified: int = Field(default=0, description="large files whose content was not compared")
    seconds: float = 0.0

    @property
    def expected_count(self) -> int:
        return sum(1 for g in self.files for c in g.changes if c.expected)


class DirectoryChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    dn: str
    name: str
    object_class: str
    change: Change
    attributes: list[str] = Field(default=[], description="a modification: what changed")
    expected: bool = Field(default=False, description="an object the scenario's checks are about")


class DirectoryAudit(BaseModel):
    model_config = ConfigDict(frozen=True)

    node: str
    audited: bool
    reason: str = ""
    since_usn: int | None = Field(default=None, description="the DC's USN at exam start")
    changes: list[DirectoryChange] = []
    truncated: str = ""


class ChangeAudit(BaseModel):
    """What changed since exam start, per node and in the directory; never scored."""

    model_config = ConfigDict(frozen=True)

    baseline: datetime | None = Field(default=None, description="when exam start was recorded")
    nodes: list[NodeAudit] = []
    directory: list[DirectoryAudit] = []
    seconds: float = 0.0

    def summary_fr(self) -> list[str]:
        """One line per node or directory, in French, for the terminal."""
        lines = []
        for node in self.nodes:
            if not node.audited:
                lines.append(f"{node.node} : non audité ({node.reason})")
                continue
            outside = node.file_count - node.expected_count
            parts = [f"{node.file_count} fichier(s) modifié(s)"]
            if node.file_count:
                parts[0] += f" dont {outside} hors périmètre"
            if node.packages:
                parts.append(f"{len(node.packages)} paquet(s)")
            if node.services:
                parts.append(f"{len(node.services)} service(s)")
            if node.truncated:
                parts.append(f"liste incomplète : {node.truncated}")
            lines.append(f"{node.node} : " + ", ".join(parts))
        for ad in self.directory:
            if not ad.audited:
                lines.append(f"annuaire ({ad.node}) : non audité ({ad.reason})")
                continue
            outside = sum(1 for c in ad.changes if not c.expected)
            line = f"annuaire ({ad.node}) : {len(ad.changes)} objet(s) modifié(s)"
            if ad.changes:
                line += f" dont {outside} hors périmètre"
            lines.append(line)
        return lines


# -- pure parts --------------------------------------------------------------------------------


def group_files(rows: Iterable[FileChangeRow]) -> list[FileGroup]:
    """Rows grouped by parent directory, directories in path order."""
    groups: dict[str, list[FileChangeRow]] = {}
    for row in rows:
        groups.setdefault(str(PurePosixPath(row.path).parent), []).append(row)
    return [
        FileGroup(
            directory=d, count=len(groups[d]), changes=sorted(groups[d], key=lambda r: r.path)
        )
        for d in sorted(groups)
    ]


def is_expected(path: str, targets: Iterable[str], exact: Collection[str] = ()) -> bool:
    """Whether ``path`` is one a check is about: one of ``targets``, below it, or a folder
    created to hold it; or one of ``exact`` (the files a check read: only those)."""
    if path in exact:
        return True
    for target in targets:
        target = target.rstrip("/") or "/"
        if path == target or path.startswith(target + "/") or target.startswith(path + "/"):
            return True
    return False


def check_paths(params: object) -> set[str]:
    """Every absolute path among a check's parameter values (nested lists and maps too)."""
    found: set[str] = set()
    if isinstance(params, str):
        if params.startswith("/") and "\n" not in params:
            found.add(params)
    elif isinstance(params, dict):
        for value in params.values():
            found |= check_paths(value)
    elif isinstance(params, (list, tuple)):
        for value in params:
            found |= check_paths(value)
    return found


#: Node folders whose paths in a command are not files the check judged.
_NOT_FILES = ("/proc", "/sys", "/dev", "/run", "/tmp")


def command_paths(commands: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Per node, the absolute paths the checks' evidence commands read (``cat /etc/x``,
    ``stat … /srv/y``): the program itself (the first word) and kernel file systems aside."""
    found: dict[str, set[str]] = {}
    for node, command in commands:
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        for word in words[1:]:
            if word.startswith("/") and not word.startswith(_NOT_FILES):
                found.setdefault(node, set()).add(word.rstrip("/") or "/")
    return found


def installed_packages(status: str) -> dict[str, str]:
    """``/var/lib/dpkg/status``: installed package (``name:arch`` when not native) to
    version. Only ``install ok installed`` counts: a removed package keeps its config files
    in status as ``deinstall ok config-files``."""
    found: dict[str, str] = {}
    for stanza in status.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue  # continuation lines of long fields
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        name = fields.get("package")
        if not name or fields.get("status", "").split()[-1:] != ["installed"]:
            continue
        arch = fields.get("architecture", "")
        if fields.get("multi-arch") == "same" and arch:
            name = f"{name}:{arch}"
        found[name] = fields.get("version", "")
    return found


def package_changes(before: str, after: str) -> list[PackageChange]:
    """Packages installed, removed or upgraded between two dpkg status files."""
    old, new = installed_packages(before), installed_packages(after)
    changes = [PackageChange(name=n, change="installed", after=new[n]) for n in new.keys() - old]
    changes += [PackageChange(name=n, change="removed", before=old[n]) for n in old.keys() - new]
    changes += [
        PackageChange(name=n, change="upgraded", before=old[n], after=new[n])
        for n in old.keys() & new.keys()
        if old[n] != new[n]
    ]
    return sorted(changes, key=lambda c: c.name)


#: The label under which files of installed, removed or upgraded packages are counted.
PACKAGE_FILES = "fichiers des paquets (voir paquets)"


#: Top folders that Debian's merged /usr makes links into /usr.
MERGED_USR = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32"})


def package_list_file(name: str) -> str:
    """dpkg's list of the files a package installed (``name`` may be ``name:arch``)."""
    return f"/var/lib/dpkg/info/{name}.list"


def fold_package_files(
    rows: Sequence[FileChangeRow], lists: Iterable[str]
) -> tuple[list[FileChangeRow], int]:
    """Rows minus the files the changed packages' dpkg lists name, and how many went.

    A package's own files are what "nano supprimé" already says; listing its hundred files
    would bury the one change the candidate made by hand beside it.
    """
    owned = {line.strip() for text in lists for line in text.splitlines() if line.startswith("/")}
    # Merged /usr: dpkg lists /bin/nano, the file is at /usr/bin/nano (/bin is a link).
    owned |= {"/usr" + p for p in owned if p.split("/")[1] in MERGED_USR}
    kept = [r for r in rows if r.path not in owned or r.expected]
    return kept, len(rows) - len(kept)


#: Services started by timers, that come and go on their own: not listed as started/stopped.
TRANSIENT_SERVICES = frozenset(
    {
        "apt-daily.service",
        "apt-daily-upgrade.service",
        "man-db.service",
        "logrotate.service",
        "e2scrub_all.service",
        "e2scrub_reap.service",
        "fstrim.service",
        "dpkg-db-backup.service",
        "systemd-tmpfiles-clean.service",
    }
)


def mark_services(changes: Iterable[ServiceChange], names: Collection[str]) -> list[ServiceChange]:
    """Services the scenario names (``ssh`` or ``ssh.service``) marked expected."""
    wanted = {n.lower() for n in names}
    return [
        c.model_copy(
            update={
                "expected": c.unit.lower() in wanted or c.unit.lower().rsplit(".", 1)[0] in wanted
            }
        )
        for c in changes
    ]


def running_changes(before: Iterable[str], after: Iterable[str]) -> list[ServiceChange]:
    """Services running now and not at exam start, and the other way round."""
    old, new = set(before) - TRANSIENT_SERVICES, set(after) - TRANSIENT_SERVICES
    changes = [ServiceChange(unit=u, change="started", where="cgroup") for u in new - old]
    changes += [ServiceChange(unit=u, change="stopped", where="cgroup") for u in old - new]
    return sorted(changes, key=lambda c: c.unit)


#: Where ``systemctl enable``/``mask`` write: links the host reads as files.
SYSTEMD_SYSTEM = "/etc/systemd/system"


def service_changes(
    rows: Sequence[FileChangeRow],
) -> tuple[list[ServiceChange], list[FileChangeRow]]:
    """Enablement links and masks among file changes, as service changes; the other rows.

    ``systemctl enable`` adds a link in ``<target>.wants`` (or ``.requires``), ``disable``
    removes it; ``mask`` links the unit to ``/dev/null`` in ``/etc/systemd/system``.
    """
    services: list[ServiceChange] = []
    rest: list[FileChangeRow] = []
    for row in rows:
        path = PurePosixPath(row.path)
        parent = path.parent
        link = row.kind == "symbolic link"
        if (
            link
            and parent.parent == PurePosixPath(SYSTEMD_SYSTEM)
            and parent.name.endswith((".wants", ".requires"))
            and row.change in ("created", "deleted")
        ):
            change: Literal["enabled", "disabled", "masked", "unmasked"] = (
                "enabled" if row.change == "created" else "disabled"
            )
            services.append(ServiceChange(unit=path.name, change=change, where=parent.name))
        elif (
            link
            and parent == PurePosixPath(SYSTEMD_SYSTEM)
            and row.target == "/dev/null"
            and row.change in ("created", "deleted")
        ):
            change = "masked" if row.change == "created" else "unmasked"
            services.append(ServiceChange(unit=path.name, change=change, where="/dev/null"))
        elif (
            row.kind == "directory"
            and parent == PurePosixPath(SYSTEMD_SYSTEM)
            and (path.name.endswith((".wants", ".requires")))
            and row.change == "created"
        ):
            continue  # its links are listed one by one (the walk expands these folders)
        else:
            rest.append(row)
    return sorted(services, key=lambda s: (s.unit, s.where)), rest


def expands(path: str) -> bool:
    """Created folders whose entries the walk lists one by one (enablement links)."""
    parent = PurePosixPath(path)
    return parent.parent == PurePosixPath(SYSTEMD_SYSTEM) and parent.name.endswith(
        (".wants", ".requires")
    )


# -- the directory -----------------------------------------------------------------------------

#: Attributes the DC changes by itself (logons, replication bookkeeping): a change of only
#: these is not listed. ``memberOf`` is computed from the groups' ``member``: the group shows.
VOLATILE_ATTRIBUTES = frozenset(
    {
        "usnchanged",
        "whenchanged",
        "dscorepropagationdata",
        "replpropertymetadata",
        "lastlogon",
        "lastlogontimestamp",
        "lastlogoff",
        "logoncount",
        "badpwdcount",
        "badpasswordtime",
        "memberof",
        "msds-keyversionnumber",
        "serverstate",
        "ridavailablepool",
        "ridallocationpool",
        "ridnextrid",
        "ridpreviousallocationpool",
        "ridusedpool",
        "rIDSetReferences".lower(),
        "msds-lastsuccessfulinteractivelogontime",
    }
)
#: Most entries of a domain are small; a bound keeps a huge one (a candidate's) from
#: bloating the baseline file.
MAX_VALUE_CHARS = 4096


class BaselineObject(BaseModel):
    model_config = ConfigDict(frozen=True)

    dn: str
    name: str
    object_class: str
    attributes: dict[str, list[str]]


class DirectoryBaseline(BaseModel):
    """One DC's directory at exam start: its USN, and every object of the domain by GUID."""

    model_config = ConfigDict(frozen=True)

    node: str
    usn: int
    objects: dict[str, BaselineObject]


def object_class(entry: DirectoryEntry) -> str:
    """The most specific class (``objectClass`` lists the chain, most specific last)."""
    classes = entry.attributes.get("objectclass") or [""]
    return classes[-1]


def object_name(entry: DirectoryEntry) -> str:
    return (
        entry.first("samaccountname")
        or entry.first("name")
        or entry.first("cn")
        or entry.dn.split(",", 1)[0]
    )


def baseline_object(entry: DirectoryEntry) -> BaselineObject:
    attributes = {
        name: sorted(v[:MAX_VALUE_CHARS] for v in values)
        for name, values in entry.attributes.items()
        if name not in VOLATILE_ATTRIBUTES
    }
    return BaselineObject(
        dn=entry.dn,
        name=object_name(entry),
        object_class=object_class(entry),
        attributes=attributes,
    )


def directory_changes(
    baseline: DirectoryBaseline,
    changed: Iterable[DirectoryEntry],
    deleted: Iterable[DirectoryEntry],
    *,
    expected_guids: frozenset[str] = frozenset(),
    expected_names: frozenset[str] = frozenset(),
) -> list[DirectoryChange]:
    """Objects created, modified or deleted since ``baseline``.

    ``changed``: live objects whose ``uSNChanged`` is past the baseline's USN; ``deleted``:
    tombstones past it. An object is expected when its GUID, or its account or common name
    (case-insensitive), is one the scenario's checks are about.
    """
    names = {n.lower() for n in expected_names}

    def expected(guid: str, *labels: str) -> bool:
        return guid in expected_guids or any(label.lower() in names for label in labels if label)

    changes: list[DirectoryChange] = []
    for entry in changed:
        guid = entry.first("objectguid") or ""
        now = baseline_object(entry)
        before = baseline.objects.get(guid)
        labels = (now.name, entry.first("cn") or "")
        if before is None:
            changes.append(
                DirectoryChange(
                    dn=entry.dn,
                    name=now.name,
                    object_class=now.object_class,
                    change="created",
                    expected=expected(guid, *labels),
                )
            )
            continue
        differ = sorted(
            name
            for name in set(before.attributes) | set(now.attributes)
            if before.attributes.get(name) != now.attributes.get(name)
            and name not in ("distinguishedname", "name", "cn")
        )
        if before.dn.lower() != entry.dn.lower():
            differ.insert(0, f"dn (était {before.dn})")
        if differ:
            changes.append(
                DirectoryChange(
                    dn=entry.dn,
                    name=now.name,
                    object_class=now.object_class,
                    change="modified",
                    attributes=differ,
                    expected=expected(guid, *labels, before.name),
                )
            )
    for entry in deleted:
        guid = entry.first("objectguid") or ""
        before = baseline.objects.get(guid)
        if before is None:
            continue  # created and deleted during the exam: nothing the jury lost
        changes.append(
            DirectoryChange(
                dn=before.dn,
                name=before.name,
                object_class=before.object_class,
                change="deleted",
                expected=expected(guid, before.name),
            )
        )
    order = {"deleted": 0, "created": 1, "modified": 2}
    return sorted(changes, key=lambda c: (order[c.change], c.dn.lower()))
