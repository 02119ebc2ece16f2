"""Checks on a Linux node's regional settings: time zone, clock, locale, keyboard.

How they collect and judge: ``graders/__init__.py``.
"""

from __future__ import annotations

import re
import time

from pydantic import Field

from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession


def _zone(path: str) -> str:
    zone = path.strip().split("zoneinfo/", 1)[-1]
    return re.sub(r"^(posix|right)/", "", zone)


@register_check
class Timezone(LinuxCheck["Timezone.Params"]):
    name = "linux.timezone"
    summary = "The time zone, and the clock within a tolerance of the host's"

    class Params(PluginParams):
        timezone: str = "Europe/Paris"
        max_skew_seconds: int | None = Field(default=None, gt=0)

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(
            ev,
            session,
            "timedatectl",
            [*p.C_LOCALE, "timedatectl", "show", "-p", "Timezone", "--value"],
            timeout=15,
        )
        p.run(ev, session, "localtime", ["readlink", "--", "/etc/localtime"])
        if params.max_skew_seconds is not None:
            # The host's clock on both sides of the node's: the node's answer lies in between.
            ev.facts["host_time_before"] = time.time()
            p.run(ev, session, "date", ["date", "+%s"])
            ev.facts["host_time_after"] = time.time()
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        t, link = p.output(ev, "timedatectl"), p.output(ev, "localtime")
        zone, decisive = "", ""
        if t is not None and t.ok and re.fullmatch(r"[A-Za-z0-9_+/-]+", t.stdout.strip()):
            zone, decisive = t.stdout.strip(), f"Timezone={t.stdout.strip()}"
        elif link is not None and link.ok and "zoneinfo/" in link.stdout:
            zone, decisive = _zone(link.stdout), f"/etc/localtime -> {link.stdout.strip()}"
        else:
            return p.not_run(t, "timedatectl / readlink /etc/localtime")
        if zone != params.timezone:
            return Judgement.failed(
                f"le fuseau horaire est {zone} et non {params.timezone}",
                f"time zone is {zone}",
                decisive,
            )
        if params.max_skew_seconds is not None:
            d = p.output(ev, "date")
            before, after = ev.facts.get("host_time_before"), ev.facts.get("host_time_after")
            if (
                d is None
                or not d.ok
                or not d.stdout.strip().isdigit()
                or before is None
                or after is None
            ):
                return p.not_run(d, "date")
            node = int(d.stdout.strip())
            # whole seconds on the node: allow the truncation on top of the tolerance
            skew = (
                0.0 if before - 1 <= node <= after else min(abs(node - before), abs(node - after))
            )
            decisive += f" ; horloge du nœud {node}, hôte {before:.0f}"
            if skew > params.max_skew_seconds:
                return Judgement.failed(
                    f"l'horloge a {skew:.0f} s d'écart (maximum {params.max_skew_seconds} s)",
                    f"clock is {skew:.0f}s off",
                    decisive,
                )
        return Judgement.passed(f"le fuseau horaire est {zone}", f"time zone is {zone}", decisive)


def _assignments(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        # ``(.*)`` right-stripped, not ``(.*?)\s*$``: that is quadratic on inner spaces.
        m = re.match(r"^\s*(?:export\s+)?([A-Z_]+)\s*=\s*(.*)$", line)
        if m:
            values[m.group(1)] = m.group(2).rstrip().strip("\"'")
    return values


@register_check
class Locale(LinuxCheck["Locale.Params"]):
    name = "linux.locale"
    summary = "The system locale and keyboard layout"

    class Params(PluginParams):
        lang: str = "fr_FR.UTF-8"
        keymap: str | None = "fr"

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "locale", ["cat", "--", "/etc/default/locale"])
        if params.keymap is not None:
            p.run(ev, session, "keyboard", ["cat", "--", "/etc/default/keyboard"])
        return ev

    @staticmethod
    def _norm(lang: str) -> str:
        # fr_FR.UTF-8, fr_FR.utf8 and fr_FR.UTF8 are the same locale
        return lang.replace("UTF-8", "utf8").replace("UTF8", "utf8").replace("utf-8", "utf8")

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "locale")
        if r is None or not (r.ok or p.says_no_such_file(r)):
            return p.not_run(r, "lecture de /etc/default/locale")
        lang = _assignments(r.stdout).get("LANG", "") if r.ok else ""
        decisive = f"LANG={lang or '(non défini)'}"
        if self._norm(lang) != self._norm(params.lang):
            return Judgement.failed(
                f"la langue du système est {lang or 'non définie'} et non {params.lang}",
                f"LANG is {lang!r}",
                decisive,
            )
        if params.keymap is not None:
            k = p.output(ev, "keyboard")
            if k is None or not (k.ok or p.says_no_such_file(k)):
                return p.not_run(k, "lecture de /etc/default/keyboard")
            layout = _assignments(k.stdout).get("XKBLAYOUT", "") if k.ok else ""
            decisive += f" ; XKBLAYOUT={layout or '(non défini)'}"
            if layout.split(",")[0] != params.keymap:
                return Judgement.failed(
                    f"le clavier est {layout or 'non défini'} et non {params.keymap}",
                    f"XKBLAYOUT is {layout!r}",
                    decisive,
                )
        return Judgement.passed(
            "langue et clavier conformes", "locale and keyboard as expected", decisive
        )
