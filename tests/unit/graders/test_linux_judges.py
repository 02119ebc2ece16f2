"""Judges of the linux.* checks on outputs captured from a real Debian 12 node."""

from __future__ import annotations

import json

import pytest
from graderkit import FakeSession, captured, evidence, out

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict
from tai_labs.sessions.base import CommandResult

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR


def test_every_check_here_is_runnable() -> None:
    names = [c.name for c in CHECKS if c.name.split(".")[0] in ("linux", "probe", "record")]
    assert len(names) == 29  # 21 linux, 6 probe, 2 record
    assert all(not CHECKS.get(n).missing_parts() for n in names)


# --- linux.service ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "params", "verdict"),
    [
        ("service_cron_active", {"service": "cron"}, PASS),
        ("service_cron_active", {"service": "cron", "enabled": True}, PASS),
        ("service_cron_active", {"service": "cron", "active": False}, FAIL),
        ("service_cron_stopped_disabled", {"service": "cron"}, FAIL),
        ("service_cron_stopped_disabled", {"service": "cron", "active": False}, PASS),
        (
            "service_cron_stopped_disabled",
            {"service": "cron", "active": False, "enabled": True},
            FAIL,
        ),
        ("service_failed", {"service": "grdfail"}, FAIL),  # failed counts as down
        ("service_failed", {"service": "grdfail", "active": False}, PASS),
        ("service_failed", {"service": "grdfail", "active": False, "enabled": False}, ERROR),
        ("service_missing", {"service": "nosuch"}, FAIL),
        ("service_missing", {"service": "nosuch", "active": False}, ERROR),
    ],
)
def test_service(judge, output, params, verdict) -> None:
    j = judge("linux.service", evidence(show=output), **params)
    assert j.verdict is verdict, j
    assert j.decisive


@pytest.mark.parametrize(
    "result",
    [
        out(0, ""),
        out(0, "garbage without equals\n"),
        out(1, "", "Failed to connect to bus"),
        out(127, "", "sh: systemctl: not found"),
        out(0, "LoadState=loaded\nActiveState=bizarre\n"),
    ],
)
def test_service_unusable_output_is_error(judge, result) -> None:
    assert judge("linux.service", evidence(show=result), service="cron").verdict is ERROR


def test_service_collect_asks_systemctl_show_in_c_locale() -> None:
    session = FakeSession([("systemctl", captured("service_cron_active"))])
    ev = CHECKS.get("linux.service")().collect(
        session, CHECKS.get("linux.service").Params(service="cron")
    )
    argv = session.calls[0][0]
    assert argv[:3] == ["env", "LC_ALL=C", "LANG=C"] and argv[-1] == "cron.service"
    assert session.calls[1][0] == [
        "cat", "--", "/sys/fs/cgroup/systemd/system.slice/cron.service/cgroup.procs"
    ]  # fmt: skip
    assert len(ev.commands) == 2


def _procs(stdout: str, rc: int = 0, source: str = "host") -> CommandResult:
    stderr = "" if rc == 0 else "cat: x: No such file or directory\n"
    return CommandResult(rc, stdout, stderr, "cat -- .../cgroup.procs", source=source, via="cgroup")


ACTIVE_MAIN_43 = (
    "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=43\n"
)
STOPPED = (
    "LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=enabled\nMainPID=0\n"
)


@pytest.mark.parametrize(
    ("show", "procs", "params", "verdict"),
    [
        # systemctl and the host agree.
        (ACTIVE_MAIN_43, _procs("43\n51\n"), {"service": "ssh"}, PASS),
        (STOPPED, _procs("", rc=1), {"service": "ssh", "active": False}, PASS),
        # A lying systemctl: says it runs, the host sees no such process, or no cgroup at all.
        (ACTIVE_MAIN_43, _procs("51\n"), {"service": "ssh"}, ERROR),
        (ACTIVE_MAIN_43, _procs("", rc=1), {"service": "ssh"}, ERROR),
        # Says it stopped, the host still sees its processes.
        (STOPPED, _procs("43\n"), {"service": "ssh", "active": False}, FAIL),
        # The node's own cat proves nothing either way.
        (ACTIVE_MAIN_43, _procs("", rc=1, source="node"), {"service": "ssh"}, PASS),
        (STOPPED, _procs("43\n", source="node"), {"service": "ssh", "active": False}, PASS),
    ],
)
def test_service_is_checked_against_its_cgroup_seen_from_the_host(
    judge, show, procs, params, verdict
) -> None:
    j = judge("linux.service", evidence(show=out(0, show), procs=procs), **params)
    assert j.verdict is verdict, j


# --- linux.package ---------------------------------------------------------------------------


def test_package(judge) -> None:
    assert (
        judge("linux.package", evidence(dpkg="package_installed"), package="smbclient").verdict
        is PASS
    )
    assert (
        judge(
            "linux.package",
            evidence(dpkg="package_installed"),
            package="smbclient",
            installed=False,
        ).verdict
        is FAIL
    )
    assert (
        judge("linux.package", evidence(dpkg="package_unknown"), package="nosuchpkg").verdict
        is FAIL
    )
    assert (
        judge(
            "linux.package", evidence(dpkg="package_unknown"), package="nosuchpkg", installed=False
        ).verdict
        is PASS
    )
    removed = out(0, "deinstall ok config-files\n")
    assert judge("linux.package", evidence(dpkg=removed), package="cups").verdict is FAIL
    assert (
        judge("linux.package", evidence(dpkg=removed), package="cups", installed=False).verdict
        is PASS
    )
    half = out(0, "install reinstreq half-installed\n")
    assert judge("linux.package", evidence(dpkg=half), package="cups").verdict is FAIL
    # French message of an unknown package: rc 1 and no output is enough
    fr = out(1, "", "dpkg-query: aucun paquet ne correspond à nosuchpkg\n")
    assert judge("linux.package", evidence(dpkg=fr), package="nosuchpkg").verdict is FAIL
    for bad in (
        out(0, ""),
        out(2, "", "dpkg-query: error"),
        out(127, "", "not found"),
        out(0, "weird\n"),
    ):
        assert judge("linux.package", evidence(dpkg=bad), package="cups").verdict is ERROR


# --- linux.file ------------------------------------------------------------------------------


def test_file_hosts_poisoned(judge) -> None:
    ev = evidence(stat="stat_hosts", content="cat_hosts_poisoned")
    j = judge("linux.file", ev, path="/etc/hosts", lacks="192.168.10.66")
    assert j.verdict is FAIL and "192.168.10.66" in j.decisive
    assert judge("linux.file", ev, path="/etc/hosts", contains="localhost").verdict is PASS
    assert judge("linux.file", ev, path="/etc/hosts", matches=r"^127\.0\.0\.1\s").verdict is PASS
    assert judge("linux.file", ev, path="/etc/hosts", matches=r"^10\.").verdict is FAIL


def test_file_mode_owner(judge) -> None:
    ev = evidence(stat="stat_hosts")
    assert (
        judge("linux.file", ev, path="/etc/hosts", mode="0644", owner="root", group="root").verdict
        is PASS
    )
    assert judge("linux.file", ev, path="/etc/hosts", mode="600").verdict is FAIL
    assert judge("linux.file", ev, path="/etc/hosts", owner="0").verdict is PASS
    assert judge("linux.file", ev, path="/etc/hosts", owner="alice").verdict is FAIL
    assert judge("linux.file", ev, path="/etc/hosts", exists=False).verdict is FAIL


def test_file_absent(judge) -> None:
    ev = evidence(stat="stat_missing")
    assert judge("linux.file", ev, path="/nosuch").verdict is FAIL
    assert judge("linux.file", ev, path="/nosuch", exists=False).verdict is PASS
    fr = out(1, "", "stat: impossible d'exécuter statx '/x': Aucun fichier ou dossier de ce type")
    assert judge("linux.file", evidence(stat=fr), path="/x", exists=False).verdict is PASS


def test_file_unusable(judge) -> None:
    denied = out(1, "", "stat: cannot statx '/root/x': Permission denied")
    assert judge("linux.file", evidence(stat=denied), path="/root/x", exists=False).verdict is ERROR
    assert judge("linux.file", evidence(stat=out(0, "")), path="/x").verdict is ERROR
    # stat says 170 bytes but the read returned nothing: cannot judge content
    ev = evidence(stat="stat_hosts", content=out(0, ""))
    assert judge("linux.file", ev, path="/etc/hosts", lacks="x").verdict is ERROR
    ev = evidence(stat="stat_hosts")  # content never read
    assert judge("linux.file", ev, path="/etc/hosts", contains="x").verdict is ERROR


def test_file_sha256(judge) -> None:
    digest = "a" * 64
    ev = evidence(stat="stat_hosts", sha256=out(0, f"{digest}  /etc/hosts\n"))
    assert judge("linux.file", ev, path="/etc/hosts", sha256=digest).verdict is PASS
    assert judge("linux.file", ev, path="/etc/hosts", sha256="b" * 64).verdict is FAIL
    ev = evidence(stat="stat_hosts", sha256=out(1, "", "sha256sum: /etc/hosts: Permission denied"))
    assert judge("linux.file", ev, path="/etc/hosts", sha256=digest).verdict is ERROR


def test_file_larger_than_what_is_read_judges_no_absence(judge) -> None:
    # /var/log/big is 5 MiB; collect read its first MiB (head -c), which holds "ERROR" once.
    big = out(0, "regular file|644|root|root|0|0|5242880\n")
    head = out(0, "ERROR at boot\n" + "x" * 100)
    ev = evidence(stat=big, content=head)
    path = "/var/log/big"
    # What the head shows decides.
    assert judge("linux.file", ev, path=path, contains="ERROR").verdict is PASS
    assert judge("linux.file", ev, path=path, lacks="ERROR").verdict is FAIL
    assert judge("linux.file", ev, path=path, matches="^ERROR").verdict is PASS
    # What it does not show may be in the unread part: error, never pass or fail.
    j = judge("linux.file", ev, path=path, lacks="PANIC")
    assert j.verdict is ERROR and "premier Mio" in j.why_fr
    assert judge("linux.file", ev, path=path, contains="PANIC").verdict is ERROR
    assert judge("linux.file", ev, path=path, matches="^PANIC").verdict is ERROR


# --- linux.user ------------------------------------------------------------------------------


def test_user(judge) -> None:
    ev = evidence(passwd="getent_passwd_root", groups="id_groups_root")
    assert judge("linux.user", ev, user="root").verdict is PASS
    assert (
        judge("linux.user", ev, user="root", groups=["root"], not_groups=["sudo"]).verdict is PASS
    )
    j = judge("linux.user", ev, user="root", groups=["sudo"])
    assert j.verdict is FAIL and "root" in j.decisive
    assert judge("linux.user", ev, user="root", not_groups=["root"]).verdict is FAIL
    assert judge("linux.user", ev, user="root", exists=False).verdict is FAIL
    missing = evidence(passwd="getent_passwd_missing")
    assert judge("linux.user", missing, user="nosuch").verdict is FAIL
    assert judge("linux.user", missing, user="nosuch", exists=False).verdict is PASS
    assert judge("linux.user", evidence(passwd=out(0, "")), user="x").verdict is ERROR
    no_groups = evidence(passwd="getent_passwd_root", groups=out(1, "", "id: error"))
    assert judge("linux.user", no_groups, user="root", groups=["root"]).verdict is ERROR


# --- linux.mount -----------------------------------------------------------------------------

FSTAB_OK = "# comment\ntmpfs /mnt tmpfs size=10m 0 0\n"


def test_mount(judge) -> None:
    mounted = evidence(findmnt="findmnt_tmpfs", fstab=out(0, FSTAB_OK))
    assert judge("linux.mount", mounted, mountpoint="/mnt", fstype="tmpfs").verdict is PASS
    assert judge("linux.mount", mounted, mountpoint="/mnt/", source="tmpfs").verdict is PASS
    assert judge("linux.mount", mounted, mountpoint="/mnt", fstype="ext4").verdict is FAIL
    not_persistent = evidence(findmnt="findmnt_tmpfs", fstab="fstab_default")
    assert judge("linux.mount", not_persistent, mountpoint="/mnt").verdict is FAIL
    assert (
        judge(
            "linux.mount", evidence(findmnt="findmnt_tmpfs"), mountpoint="/mnt", persistent=False
        ).verdict
        is PASS
    )
    noauto = evidence(findmnt="findmnt_tmpfs", fstab=out(0, "tmpfs /mnt tmpfs noauto 0 0\n"))
    assert judge("linux.mount", noauto, mountpoint="/mnt").verdict is FAIL
    nothing = evidence(findmnt="findmnt_not_mounted", fstab=out(0, FSTAB_OK))
    assert judge("linux.mount", nothing, mountpoint="/mnt").verdict is FAIL
    assert judge("linux.mount", evidence(findmnt=out(0, "")), mountpoint="/mnt").verdict is ERROR


def test_mount_fstab_wrong_uuid() -> None:
    fs = {
        "filesystems": [
            {
                "target": "/data",
                "source": "/dev/sdb1",
                "fstype": "ext4",
                "options": "rw",
                "uuid": "1111-aaaa",
                "label": "DATA",
            }
        ]
    }
    plugin = CHECKS.get("linux.mount")
    good = evidence(
        findmnt=out(0, json.dumps(fs)), fstab=out(0, "UUID=1111-AAAA /data ext4 defaults 0 2\n")
    )
    bad = evidence(
        findmnt=out(0, json.dumps(fs)), fstab=out(0, "UUID=2222-bbbb /data ext4 defaults 0 2\n")
    )
    label = evidence(
        findmnt=out(0, json.dumps(fs)), fstab=out(0, "LABEL=DATA /data auto defaults 0 2\n")
    )
    params = plugin.Params(mountpoint="/data", source="UUID=1111-aaaa")
    assert plugin().judge(good, params).verdict is PASS
    assert plugin().judge(bad, params).verdict is FAIL
    assert plugin().judge(label, params).verdict is PASS


# --- linux.disk_free -------------------------------------------------------------------------


def test_disk_free(judge) -> None:
    ev = evidence(df="df_root")  # 75942 MiB free, 27% used
    assert judge("linux.disk_free", ev, min_free_mib=1000).verdict is PASS
    assert judge("linux.disk_free", ev, min_free_mib=100000).verdict is FAIL
    assert judge("linux.disk_free", ev, min_free_percent=70).verdict is PASS
    assert judge("linux.disk_free", ev, min_free_percent=80).verdict is FAIL
    assert judge("linux.disk_free", ev).verdict is ERROR  # no threshold
    # the header is translated in a French locale, the values are not
    fr = out(0, "Dispo Uti% blocs de 1M Monté sur\n    12   99%       500 /var/tmp\n")
    j = judge("linux.disk_free", evidence(df=fr), path="/var/tmp", min_free_mib=50)
    assert j.verdict is FAIL and "/var/tmp" in j.decisive
    for bad in (
        out(0, ""),
        out(1, "", "df: /x: No such file or directory"),
        out(0, "Avail Use%\n"),
    ):
        assert judge("linux.disk_free", evidence(df=bad), min_free_mib=1).verdict is ERROR


# --- linux.firewall --------------------------------------------------------------------------


def test_firewall(judge) -> None:
    empty, drop = evidence(nft="nft_empty"), evidence(nft="nft_drop_445")
    assert judge("linux.firewall", empty, port=445).verdict is PASS
    assert judge("linux.firewall", empty, port=445, allowed=False).verdict is FAIL
    j = judge("linux.firewall", drop, port=445)
    assert j.verdict is FAIL and "445" in j.decisive and "drop" in j.decisive
    assert judge("linux.firewall", drop, port=445, allowed=False).verdict is PASS
    assert judge("linux.firewall", drop, port=445, direction="out").verdict is FAIL
    # input chain: policy drop, only 22 accepted, udp 1000-2000 rejected
    assert judge("linux.firewall", drop, port=22, direction="in").verdict is PASS
    assert judge("linux.firewall", drop, port=80, direction="in").verdict is FAIL
    assert judge("linux.firewall", drop, port=1500, protocol="udp", direction="in").verdict is FAIL
    assert judge("linux.firewall", drop, port=80, direction="out").verdict is PASS
    assert judge("linux.firewall", drop, port=445, protocol="udp", direction="out").verdict is PASS


def test_firewall_accept_before_drop_and_jumps(judge) -> None:
    def ruleset(*rules):
        items = [
            {
                "chain": {
                    "family": "inet",
                    "table": "f",
                    "name": "input",
                    "type": "filter",
                    "hook": "input",
                    "prio": 0,
                    "policy": "accept",
                }
            },
            {"chain": {"family": "inet", "table": "f", "name": "smb"}},
        ]
        for chain, expr in rules:
            items.append({"rule": {"family": "inet", "table": "f", "chain": chain, "expr": expr}})
        return out(0, json.dumps({"nftables": items}))

    dport = {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": 445,
        }
    }
    accept_then_drop = ruleset(
        ("input", [dport, {"accept": None}]), ("input", [dport, {"drop": None}])
    )
    assert judge("linux.firewall", evidence(nft=accept_then_drop), port=445).verdict is PASS
    jump = ruleset(
        ("input", [{"jump": {"target": "smb"}}]),
        ("smb", [dport, {"counter": None}, {"drop": None}]),
    )
    assert judge("linux.firewall", evidence(nft=jump), port=445).verdict is FAIL
    other_port = ruleset(
        ("input", [{**dport, "match": {**dport["match"], "right": 80}}, {"drop": None}])
    )
    assert judge("linux.firewall", evidence(nft=other_port), port=445).verdict is PASS


def test_firewall_unusable(judge) -> None:
    for bad in (
        out(0, ""),
        out(0, "table inet f {"),
        out(1, "", "Operation not permitted"),
        out(127, "", "nft: not found"),
        out(0, "[]"),
    ):
        assert judge("linux.firewall", evidence(nft=bad), port=445).verdict is ERROR


# --- linux.resolver --------------------------------------------------------------------------


def test_resolver(judge) -> None:
    ev = evidence(resolv="resolv_conf")
    assert judge("linux.resolver", ev, nameservers=["192.168.10.10"]).verdict is PASS
    assert (
        judge(
            "linux.resolver", ev, nameservers=["192.168.10.10"], search=["boulangerieleroy.lan"]
        ).verdict
        is PASS
    )
    assert (
        judge("linux.resolver", ev, nameservers=["192.168.10.10"], search=["x.lan"]).verdict is FAIL
    )
    j = judge("linux.resolver", ev, nameservers=["192.168.10.99"])
    assert j.verdict is FAIL and "nameserver 192.168.10.10" in j.decisive
    extra = out(0, "nameserver 192.168.10.10\nnameserver 8.8.8.8\n")
    assert (
        judge("linux.resolver", evidence(resolv=extra), nameservers=["192.168.10.10"]).verdict
        is FAIL
    )
    none = out(0, "# nothing\n")
    assert (
        judge("linux.resolver", evidence(resolv=none), nameservers=["192.168.10.10"]).verdict
        is FAIL
    )
    stub = out(0, "nameserver 127.0.0.53\n")
    assert (
        judge("linux.resolver", evidence(resolv=stub), nameservers=["192.168.10.10"]).verdict
        is ERROR
    )
    denied = out(1, "", "cat: /etc/resolv.conf: Permission denied")
    assert (
        judge("linux.resolver", evidence(resolv=denied), nameservers=["192.168.10.10"]).verdict
        is ERROR
    )


# --- linux.route / linux.address -------------------------------------------------------------


def test_route(judge) -> None:
    ev = evidence(routes="ip_route")
    assert judge("linux.route", ev, via="192.168.10.254").verdict is PASS
    j = judge("linux.route", ev, via="192.168.10.1")
    assert j.verdict is FAIL and "192.168.10.254" in j.decisive
    assert judge("linux.route", ev, destination="10.0.0.0/8", via="192.168.10.254").verdict is FAIL
    assert judge("linux.route", evidence(routes=out(0, "[]")), via="192.168.10.254").verdict is FAIL
    assert judge("linux.route", evidence(routes=out(0, "")), via="192.168.10.254").verdict is ERROR
    assert (
        judge("linux.route", evidence(routes=out(0, "default via x")), via="192.168.10.254").verdict
        is ERROR
    )


def test_address(judge) -> None:
    ev = evidence(addr="ip_addr_eth1")
    assert judge("linux.address", ev, interface="eth1", address="192.168.10.51/24").verdict is PASS
    assert judge("linux.address", ev, interface="eth1", address="192.168.10.51/16").verdict is FAIL
    assert judge("linux.address", ev, interface="eth1", address="192.168.10.52/24").verdict is FAIL
    assert (
        judge("linux.address", ev, interface="eth1", address="192.168.10.51/24", up=False).verdict
        is FAIL
    )
    j = judge(
        "linux.address", evidence(addr="ip_addr_missing"), interface="eth9", address="10.0.0.1/24"
    )
    assert j.verdict is FAIL and "eth9" in j.decisive
    down = json.loads(captured("ip_addr_eth1").stdout)
    down[0]["flags"] = ["BROADCAST", "MULTICAST"]
    ev = evidence(addr=out(0, json.dumps(down)))
    assert judge("linux.address", ev, interface="eth1", address="192.168.10.51/24").verdict is FAIL
    assert (
        judge(
            "linux.address", evidence(addr=out(0, "")), interface="eth1", address="192.168.10.51/24"
        ).verdict
        is ERROR
    )


# --- linux.hostname / timezone / locale ------------------------------------------------------


def test_hostname(judge) -> None:
    ev = evidence(static="hostname_file", running="uname_n")
    assert judge("linux.hostname", ev, hostname="pc1").verdict is PASS
    assert judge("linux.hostname", ev, hostname="PC1").verdict is PASS
    assert judge("linux.hostname", ev, hostname="pc2").verdict is FAIL
    not_applied = evidence(static=out(0, "pc2\n"), running="uname_n")
    j = judge("linux.hostname", not_applied, hostname="pc2")
    assert j.verdict is FAIL and "uname -n=pc1" in j.decisive
    assert (
        judge(
            "linux.hostname", evidence(static="hostname_file", running=out(0, "")), hostname="pc1"
        ).verdict
        is ERROR
    )


def test_timezone(judge) -> None:
    ev = evidence(timedatectl="timedatectl_tz", localtime="readlink_localtime")
    assert judge("linux.timezone", ev, timezone="Etc/UTC").verdict is PASS
    assert judge("linux.timezone", ev, timezone="Europe/Paris").verdict is FAIL
    # no timedated (no D-Bus): the /etc/localtime link decides
    ev = evidence(
        timedatectl=out(1, "", "Failed to connect to bus"),
        localtime=out(0, "../usr/share/zoneinfo/Europe/Paris\n"),
    )
    assert judge("linux.timezone", ev, timezone="Europe/Paris").verdict is PASS
    ev = evidence(timedatectl=out(1, ""), localtime=out(1, ""))
    assert judge("linux.timezone", ev).verdict is ERROR


def test_timezone_skew(judge) -> None:
    node = int(captured("date_epoch").stdout)
    base = {
        "timedatectl": "timedatectl_tz",
        "localtime": "readlink_localtime",
        "date": "date_epoch",
    }
    ok = evidence({"host_time_before": node - 0.2, "host_time_after": node + 0.3}, **base)
    assert judge("linux.timezone", ok, timezone="Etc/UTC", max_skew_seconds=5).verdict is PASS
    skewed = evidence({"host_time_before": node + 1800.0, "host_time_after": node + 1800.5}, **base)
    assert judge("linux.timezone", skewed, timezone="Etc/UTC", max_skew_seconds=300).verdict is FAIL
    no_host = evidence(**base)
    assert judge("linux.timezone", no_host, timezone="Etc/UTC", max_skew_seconds=5).verdict is ERROR


def test_locale(judge) -> None:
    fr = evidence(
        locale=out(0, 'LANG="fr_FR.UTF-8"\n'), keyboard=out(0, 'XKBMODEL="pc105"\nXKBLAYOUT="fr"\n')
    )
    assert judge("linux.locale", fr).verdict is PASS
    assert (
        judge("linux.locale", evidence(locale=out(0, "LANG=fr_FR.utf8\n")), keymap=None).verdict
        is PASS
    )
    c = evidence(locale=out(0, "LANG=C.UTF-8\n"), keyboard=out(0, 'XKBLAYOUT="fr"\n'))
    assert judge("linux.locale", c).verdict is FAIL
    us = evidence(locale=out(0, "LANG=fr_FR.UTF-8\n"), keyboard=out(0, 'XKBLAYOUT="us"\n'))
    assert judge("linux.locale", us).verdict is FAIL
    missing = evidence(locale="locale_missing", keyboard="locale_missing")
    assert judge("linux.locale", missing).verdict is FAIL
    denied = evidence(locale=out(1, "", "Permission denied"))
    assert judge("linux.locale", denied, keymap=None).verdict is ERROR


# --- linux.cron ------------------------------------------------------------------------------


def cron_ev(crontab="crontab_none", files="cron_files", **extra):
    return evidence(
        crontab=crontab, files=files, timers="timers_show", timer_units="service_execstart", **extra
    )


def test_cron_files(judge) -> None:
    ev = cron_ev()
    j = judge("linux.cron", ev, command="/srv/sauvegarde/home", schedule="30 12 * * *")
    assert j.verdict is PASS and "sauvegarde-documents" not in j.decisive and "30 12" in j.decisive
    assert (
        judge("linux.cron", ev, command="/srv/sauvegarde/home", schedule="0 12 * * *").verdict
        is FAIL
    )
    assert judge("linux.cron", ev, command="/srv/sauvegarde/home", user="alice").verdict is FAIL
    # cron ignores a cron.d file with a dot in its name, and a last line without newline
    j = judge("linux.cron", ev, command="/srv/sauvegarde/y")
    assert j.verdict is FAIL and "point" in j.why_fr
    j = judge("linux.cron", ev, command="/srv/sauvegarde/x")
    assert j.verdict is FAIL and "retour à la ligne" in j.why_fr
    assert judge("linux.cron", ev, command="/usr/local/bin/absent").verdict is FAIL


def test_cron_user_crontab_and_timers(judge) -> None:
    tab = out(
        0, "# m h dom mon dow command\n00 13 * * 1-5 /srv/sauvegarde.sh\n@daily /usr/bin/true\n"
    )
    ev = cron_ev(crontab=tab)
    assert (
        judge("linux.cron", ev, command="/srv/sauvegarde.sh", schedule="0 13 * * mon-fri").verdict
        is PASS
    )
    assert judge("linux.cron", ev, command="/usr/bin/true", schedule="0 0 * * *").verdict is PASS
    # systemd timer apt-daily runs /usr/lib/apt/apt.systemd.daily at 06,18:00 (not comparable)
    j = judge("linux.cron", ev, command="apt.systemd.daily")
    assert j.verdict is PASS and "apt-daily.timer" in j.decisive
    assert (
        judge("linux.cron", ev, command="apt.systemd.daily", schedule="0 6 * * *").verdict is ERROR
    )


def test_cron_unusable(judge) -> None:
    assert (
        judge("linux.cron", cron_ev(crontab=out(1, "", "must be privileged")), command="x").verdict
        is ERROR
    )
    assert (
        judge("linux.cron", cron_ev(files=out(127, "", "sh: not found")), command="x").verdict
        is ERROR
    )


# --- linux.printer (CUPS formats from lpstat(1); the lab image has no cupsd) ---------------

P_ON = "printer Compta-Laser is idle.  enabled since Sun 29 Nov 2026 04:47:00 AM UTC\n"
P_OFF = "printer Compta-Laser disabled since Sun 29 Nov 2026 04:47:00 AM UTC -\n\treason unknown\n"
A_ON = "Compta-Laser accepting requests since Sun 29 Nov 2026 04:47:00 AM UTC\n"
RUNNING = out(0, "scheduler is running\n")
A_OFF = (
    "Compta-Laser not accepting requests since Sun 29 Nov 2026 04:47 AM UTC -\n\tRejecting Jobs\n"
)


def test_printer(judge) -> None:
    ok = evidence(
        scheduler=RUNNING,
        printer=out(0, P_ON),
        accepting=out(0, A_ON),
        default=out(0, "system default destination: Compta-Laser\n"),
    )
    assert judge("linux.printer", ok, queue="Compta-Laser", default=True).verdict is PASS
    assert judge("linux.printer", ok, queue="Compta-Laser", default=False).verdict is FAIL
    paused = evidence(scheduler=RUNNING, printer=out(0, P_OFF), accepting=out(0, A_ON))
    assert judge("linux.printer", paused, queue="Compta-Laser").verdict is FAIL
    assert judge("linux.printer", paused, queue="Compta-Laser", enabled=False).verdict is PASS
    rejecting = evidence(scheduler=RUNNING, printer=out(0, P_ON), accepting=out(0, A_OFF))
    assert judge("linux.printer", rejecting, queue="Compta-Laser").verdict is FAIL
    no_default = evidence(
        scheduler=RUNNING,
        printer=out(0, P_ON),
        accepting=out(0, A_ON),
        default=out(1, "no system default destination\n"),
    )
    assert judge("linux.printer", no_default, queue="Compta-Laser", default=True).verdict is FAIL


def test_printer_french_output(judge) -> None:
    fr = evidence(
        scheduler=out(0, "l'ordonnanceur est en cours d'exécution\n"),
        printer=out(0, "l'imprimante Compta-Laser est désactivée depuis dim. 29 nov. 2026 -\n"),
        accepting=out(0, "Compta-Laser accepte des requêtes depuis dim. 29 nov. 2026\n"),
        default=out(0, "destination système par défaut : Compta-Laser\n"),
    )
    assert judge("linux.printer", fr, queue="Compta-Laser").verdict is FAIL
    assert (
        judge("linux.printer", fr, queue="Compta-Laser", enabled=False, default=True).verdict
        is PASS
    )


def test_printer_unusable(judge) -> None:
    # real, cups-client without cupsd: lpstat calls the queue invalid, lpstat -r tells why
    down = captured("lpstat_no_scheduler")
    ev = evidence(scheduler="lpstat_r_no_scheduler", printer=down, accepting=down)
    assert judge("linux.printer", ev, queue="Compta-Laser").verdict is ERROR
    unknown = out(1, "", 'lpstat: Invalid destination name in list "Nope".\n')
    ev = evidence(scheduler=RUNNING, printer=unknown, accepting=unknown)
    assert judge("linux.printer", ev, queue="Nope").verdict is FAIL
    ev = evidence(printer=unknown, accepting=unknown)  # scheduler state not asked
    assert judge("linux.printer", ev, queue="Nope").verdict is ERROR


# --- linux.sshd / linux.kernel_module --------------------------------------------------------


def test_sshd(judge) -> None:
    ev = evidence(sshd="sshd_T")  # permitrootlogin without-password == prohibit-password
    assert judge("linux.sshd", ev, permit_root_login="prohibit-password").verdict is PASS
    assert judge("linux.sshd", ev, permit_root_login="no").verdict is FAIL
    assert judge("linux.sshd", ev, password_authentication=True).verdict is PASS
    assert judge("linux.sshd", ev, password_authentication=False).verdict is FAIL
    j = judge("linux.sshd", evidence(sshd="sshd_T_bad"), permit_root_login="no")
    assert j.verdict is FAIL and "Bad configuration option" in j.decisive
    no_dir = out(255, "", "Missing privilege separation directory: /run/sshd\n")
    assert judge("linux.sshd", evidence(sshd=no_dir), permit_root_login="no").verdict is ERROR


def test_kernel_module(judge) -> None:
    mods = out(0, "usb_storage 81920 0 - Live 0x0000000000000000\nloop 32768 0 - Live 0x0\n")
    no_list = out(0, "# end\n")
    black = out(0, "# x\nblacklist usb-storage\n# end\n")
    ev = evidence(modules=mods, sysmodule=out(0, "present\n"), blacklist=no_list)
    assert judge("linux.kernel_module", ev, module="usb_storage").verdict is PASS
    assert judge("linux.kernel_module", ev, module="usb-storage", loaded=False).verdict is FAIL
    gone = evidence(
        modules=out(0, "loop 32768 0 - Live 0x0\n"), sysmodule=out(0, "absent\n"), blacklist=black
    )
    assert judge("linux.kernel_module", gone, module="usb_storage", loaded=False).verdict is PASS
    unlisted = evidence(
        modules=out(0, "loop 1 0 - Live 0x0\n"), sysmodule=out(0, "absent\n"), blacklist=no_list
    )
    assert (
        judge("linux.kernel_module", unlisted, module="usb_storage", loaded=False).verdict is FAIL
    )
    assert (
        judge(
            "linux.kernel_module", unlisted, module="usb_storage", loaded=False, blacklisted=False
        ).verdict
        is PASS
    )
    # real container: no /proc/modules; /sys/module decides
    container = evidence(
        modules="proc_modules_missing", sysmodule=out(0, "absent\n"), blacklist=no_list
    )
    assert judge("linux.kernel_module", container, module="usb_storage").verdict is FAIL
    blind = evidence(modules="proc_modules_missing", sysmodule=out(1, ""), blacklist=no_list)
    assert judge("linux.kernel_module", blind, module="usb_storage").verdict is ERROR
