"""Checks on a Linux node's software: Debian packages, kernel modules.

How they collect and judge: ``graders/__init__.py``.
"""

from __future__ import annotations

from pydantic import Field

from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession


@register_check
class Package(LinuxCheck["Package.Params"]):
    name = "linux.package"
    summary = "A Debian package is installed (or absent)"

    class Params(PluginParams):
        package: str = Field(pattern=r"^[a-z0-9][a-z0-9+.-]+$")
        installed: bool = True

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(
            ev,
            session,
            "dpkg",
            [*p.C_LOCALE, "dpkg-query", "-W", "-f=${Status}\\n", "--", params.package],
        )
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "dpkg")
        if r is None:
            return p.not_run(r, "dpkg-query")
        pkg = params.package
        if r.rc == 1 and not r.stdout.strip() and not p.tool_missing(r):
            state, decisive = "not-installed", p.quote(r)  # dpkg has never heard of it
        elif r.ok and (state := p.dpkg_state(p.first_line(r.stdout)) or ""):
            decisive = p.first_line(r.stdout)
        else:
            return p.not_run(r, "dpkg-query")
        if state == "installed":
            if params.installed:
                return Judgement.passed(
                    f"le paquet {pkg} est installé", f"{pkg} is installed", decisive
                )
            return Judgement.failed(
                f"le paquet {pkg} est toujours installé", f"{pkg} is installed", decisive
            )
        if state in ("not-installed", "config-files"):
            if params.installed:
                return Judgement.failed(
                    f"le paquet {pkg} n'est pas installé", f"{pkg} is not installed", decisive
                )
            return Judgement.passed(f"le paquet {pkg} est absent", f"{pkg} is absent", decisive)
        return Judgement.failed(
            f"le paquet {pkg} est dans un état incomplet ({state})",
            f"{pkg} is half-installed ({state})",
            decisive,
        )


@register_check
class KernelModule(LinuxCheck["KernelModule.Params"]):
    name = "linux.kernel_module"
    summary = "A kernel module is loaded (or not) and not blacklisted"

    class Params(PluginParams):
        module: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
        loaded: bool = True
        blacklisted: bool | None = Field(
            default=None,
            description="default: the opposite of loaded (an unloaded module stays out)",
        )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "modules", ["cat", "/proc/modules"])
        name = params.module.replace("-", "_")
        # In a container /proc/modules may be hidden; /sys/module/NAME exists for loaded modules.
        p.run(
            ev,
            session,
            "sysmodule",
            [
                "sh",
                "-c",
                'if [ -d "/sys/module/$1" ]; then echo present; else echo absent; fi',
                "sh",
                name,
            ],
        )
        p.run(
            ev,
            session,
            "blacklist",
            [
                "sh",
                "-c",
                "cat /etc/modprobe.d/*.conf /lib/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf "
                '/run/modprobe.d/*.conf 2>/dev/null; echo "# end"',
            ],
        )
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        name = params.module.replace("-", "_")
        m, s, b = p.output(ev, "modules"), p.output(ev, "sysmodule"), p.output(ev, "blacklist")
        if m is not None and m.ok and m.stdout.strip():
            loaded = any(line.split()[0] == name for line in m.stdout.splitlines() if line.split())
            seen = "/proc/modules"
        elif s is not None and s.ok and s.stdout.strip() in ("present", "absent"):
            loaded, seen = s.stdout.strip() == "present", f"/sys/module/{name}"
        else:
            return p.not_run(m, "/proc/modules")
        if b is None or not b.ok or "# end" not in b.stdout:
            return p.not_run(b, "lecture de /etc/modprobe.d")
        rule = ""
        for line in b.stdout.splitlines():
            words = line.split()
            if (
                len(words) >= 2
                and words[1].replace("-", "_") == name
                and (
                    words[0] == "blacklist"
                    or (words[0] == "install" and ("/bin/false" in line or "/bin/true" in line))
                )
            ):
                rule = line.strip()
        blacklisted = bool(rule)
        want_black = (not params.loaded) if params.blacklisted is None else params.blacklisted
        decisive = f"{seen}: {'chargé' if loaded else 'absent'} ; {rule or 'pas de liste noire'}"
        if loaded != params.loaded:
            word = "chargé" if loaded else "non chargé"
            return Judgement.failed(
                f"le module {name} est {word}", f"module {name} loaded={loaded}", decisive
            )
        if blacklisted != want_black:
            word = "en liste noire" if blacklisted else "absent de la liste noire"
            return Judgement.failed(
                f"le module {name} est {word}", f"module {name} blacklisted={blacklisted}", decisive
            )
        return Judgement.passed(
            f"le module {name} est dans l'état attendu", f"module {name} as expected", decisive
        )
