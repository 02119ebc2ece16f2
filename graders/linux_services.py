"""Checks on a Linux node's services: systemd units, scheduled jobs, printers, sshd.

How they collect and judge: ``graders/__init__.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import Field

from tai_labs.grading import parsers as p
from tai_labs.grading.audit import TRANSIENT_SERVICES
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandResult, CommandSession, SessionError

_SPACE_SEMI = re.compile(" ;")


def _unit(name: str) -> str:
    return name if "." in name else f"{name}.service"


def unit_cgroup(unit: str) -> str:
    """Where systemd puts a system unit's processes: ``system.slice[/system-x.slice]/unit``."""
    if "@" in unit:
        prefix = unit.split("@", 1)[0].replace("-", "\\x2d")
        return f"system.slice/system-{prefix}.slice/{unit}"
    return f"system.slice/{unit}"


def _systemctl_show(properties: str, *units: str) -> list[str]:
    """``systemctl show`` of these properties of the units, in the C locale."""
    return [*p.C_LOCALE, "systemctl", "show", "--no-pager", "-p", properties, "--", *units]


@register_check
class Service(LinuxCheck["Service.Params"]):
    name = "linux.service"
    summary = "A systemd unit is active (a 'failed' unit counts as down) and optionally enabled"

    class Params(PluginParams):
        service: str = Field(pattern=r"^[A-Za-z0-9@._-]+$")
        active: bool = True
        enabled: bool | None = None

    ENABLED = frozenset({"enabled", "enabled-runtime", "alias"})
    DISABLED = frozenset({"disabled", "masked", "masked-runtime", "linked", "linked-runtime"})
    STATES = frozenset(
        {"active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance"}
    )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        unit = _unit(params.service)
        p.run(
            ev,
            session,
            "show",
            _systemctl_show("LoadState,ActiveState,SubState,UnitFileState,MainPID", unit),
        )
        # The unit's processes as the kernel lists them: on a container node the host reads
        # them itself (source "host"), which a lying systemctl cannot change.
        procs = f"/sys/fs/cgroup/systemd/{unit_cgroup(unit)}/cgroup.procs"
        p.run(ev, session, "procs", ["cat", "--", procs])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "show")
        if r is None or not r.ok:
            return p.not_run(r, "systemctl show")
        try:
            blocks = p.parse_systemctl_show(r.stdout)
        except ValueError:
            return p.not_run(r, "systemctl show")
        props = blocks[0] if len(blocks) == 1 else {}
        load, active = props.get("LoadState"), props.get("ActiveState")
        if not load or active not in self.STATES:
            return p.not_run(r, "systemctl show")
        unit = _unit(params.service)
        if load == "not-found":
            if params.active:
                return Judgement.failed(
                    f"l'unité {unit} n'existe pas sur le nœud",
                    f"unit {unit} does not exist",
                    "LoadState=not-found",
                )
            return Judgement.error(
                f"l'unité {unit} est inconnue : impossible de dire qu'elle est arrêtée",
                f"unit {unit} unknown, cannot judge",
                "LoadState=not-found",
            )
        decisive = f"ActiveState={active} SubState={props.get('SubState', '')}".strip()
        contradiction = self._host_contradicts(
            ev, unit, active, props.get("MainPID", ""), wanted=params.active
        )
        if contradiction is not None:
            return contradiction
        if params.active and active != "active":
            return Judgement.failed(
                f"{unit} n'est pas actif ({active})", f"{unit} is not active ({active})", decisive
            )
        if not params.active and active not in ("inactive", "failed"):
            return Judgement.failed(
                f"{unit} tourne encore ({active})", f"{unit} is still running ({active})", decisive
            )
        if params.enabled is not None:
            state = props.get("UnitFileState", "")
            if state not in self.ENABLED | self.DISABLED:
                return Judgement.error(
                    f"{unit} n'a pas d'état d'activation au démarrage ({state or 'vide'})",
                    f"{unit} has no enable state ({state or 'empty'})",
                    f"UnitFileState={state}",
                )
            if (state in self.ENABLED) != params.enabled:
                want = "activé" if params.enabled else "désactivé"
                return Judgement.failed(
                    f"{unit} n'est pas {want} au démarrage ({state})",
                    f"{unit} enable state is {state}",
                    f"UnitFileState={state}",
                )
            decisive += f" UnitFileState={state}"
        word = "actif" if params.active else "arrêté"
        return Judgement.passed(
            f"{unit} est {word}", f"{unit} is {'active' if params.active else 'stopped'}", decisive
        )

    @staticmethod
    def _host_contradicts(
        ev: Evidence, unit: str, active: str, main_pid: str, *, wanted: bool
    ) -> Judgement | None:
        """What the host saw in the unit's cgroup, when it disagrees with systemctl.

        Only a host-side read counts (the node's own ``cat`` is no better than its
        systemctl); systemd removes a stopped unit's cgroup, so "no such file" is "no
        process". A main process systemctl names but the cgroup lacks: ``error``, the jury
        must look. Processes left in a unit systemctl calls stopped: it still runs.
        """
        r = p.output(ev, "procs")
        if r is None or r.source != "host" or not (r.ok or p.says_no_such_file(r)):
            return None
        pids = {int(w) for w in r.stdout.split() if w.isdigit()} if r.ok else set()
        listed = " ".join(str(pid) for pid in sorted(pids)) or "vide"
        main = int(main_pid) if main_pid.isdigit() else 0
        if wanted and active == "active" and main > 0 and main not in pids:
            return Judgement.error(
                f"systemctl (côté nœud) dit {unit} actif (MainPID={main_pid}), mais ce "
                f"processus n'est pas dans son cgroup vu de l'hôte ({listed})",
                f"systemctl says {unit} runs as {main_pid}, its cgroup seen from the host "
                f"holds {listed}",
                f"MainPID={main_pid} cgroup.procs={listed}",
            )
        if not wanted and active in ("inactive", "failed") and pids:
            return Judgement.failed(
                f"{unit} a encore des processus (vus depuis l'hôte : {listed})",
                f"{unit} still has processes (seen from the host: {listed})",
                f"cgroup.procs={listed}",
            )
        return None


#: The node's system services' cgroups (v1 ``name=systemd``, as ``linux.service`` reads them)
#: and where ``systemctl enable``/``mask`` write.
SYSTEM_SLICE = "/sys/fs/cgroup/systemd/system.slice"
SYSTEMD_ETC = "/etc/systemd/system"
#: Key of the exam-start record of ``linux.services_kept`` (units, space-separated).
KEPT_KEY = "services"
#: At most this many units of a node are read (a node's root can make thousands of dirs).
MAX_UNITS = 500
_UNIT_NAME = re.compile(r"^[A-Za-z0-9@._:\\-]+$")
_UNIT_FILE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class UnitsSeen:
    """A node's services as the host reads them: those with a process in their cgroup, the
    enablement links (unit -> the ``.wants``/``.requires`` dirs holding one) and the masks."""

    running: frozenset[str]
    enabled: dict[str, list[str]]
    masked: frozenset[str]


def _names(result: CommandResult | None) -> list[str]:
    if result is None or not result.ok:
        return []
    return [n for n in result.stdout.splitlines() if _UNIT_NAME.match(n)][:MAX_UNITS]


def units_seen(ev: Evidence) -> UnitsSeen | Judgement:
    """What ``ServicesKept.collect`` read, or ``error`` when the host did not read it itself
    (a node-side answer is what a candidate with root can forge) or could not read it."""
    slice_ls, etc_ls = p.output(ev, "slice"), p.output(ev, "etc")
    for result, what in ((slice_ls, "cgroups des services"), (etc_ls, SYSTEMD_ETC)):
        if result is None or not result.ok:
            # No system.slice: the node is not running (stopped), nothing to say of its units.
            return p.not_run(result, f"lecture de {what} depuis l'hôte")
        if result.source != "host":
            return Judgement.error(
                f"{what} n'a pas été lu depuis l'hôte (nœud sans vue hôte, une VM ?) : "
                "la réponse du nœud ne prouve rien",
                f"{what} not read by the host: the node's own answer proves nothing",
                p.quote(result),
            )
    running = set()
    for unit in _names(slice_ls):
        procs = p.output(ev, f"procs:{unit}")
        # Read host-side like the listing; a cgroup gone meanwhile is a stopped unit.
        if procs is not None and procs.ok and procs.source == "host" and procs.stdout.strip():
            running.add(unit)
    enabled: dict[str, list[str]] = {}
    masked = set()
    for name in _names(etc_ls):
        if name.endswith((".wants", ".requires")):
            for unit in _names(p.output(ev, f"wants:{name}")):
                enabled.setdefault(unit, []).append(name)
        link = p.output(ev, f"link:{name}")
        if link is not None and link.ok and link.stdout.strip() == "/dev/null":
            masked.add(name)
    return UnitsSeen(frozenset(running), enabled, frozenset(masked))


def named_by(unit: str, words: list[str]) -> bool:
    """Whether one of the scenario's words names the unit as a whole word (``cron.d`` names
    ``cron.service``, ``getty`` names ``getty@tty1.service``, ``cups`` does not name
    ``cups-browsed.service``), read as ``scenario.invariants`` reads names: such a unit is
    the scenario's own business."""
    stem = unit.removesuffix(".service")
    names = {stem, stem.split("@", 1)[0]}
    for name in names:
        pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", re.I)
        if any(pattern.search(word) for word in words):
            return True
    return False


def _unit_file_keys(text: str, section: str, key: str) -> list[str]:
    """The values of ``key`` in ``[section]`` of a unit file, in order (systemd keeps the
    last one of a single-valued key)."""
    current, values = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == section and line.partition("=")[0].strip() == key:
            values.append(line.partition("=")[2].strip())
    return values


@register_check
class ServicesKept(LinuxCheck["ServicesKept.Params"]):
    """The services that ran, enabled, at exam start still run and stay enabled.

    There is no right list to compare with, only the exam-start one: ``identify`` records it
    in the ``identities`` step (after the faults), like ``ad.domain_policy`` its policy, so
    ``judge`` gets it in ``evidence.baseline``. The change audit's baseline lists every unit
    with a process (for the jury's list of changes); this check owns its own, narrower record.

    Only what the host reads counts: a unit runs when its cgroup, in the host's hierarchy,
    holds a process (written by the kernel: a stopped unit's cgroup is gone, a fake process
    named like the service is elsewhere, a replaced ``systemctl`` takes no part); it is
    enabled when its link is in a ``.wants``/``.requires`` dir of ``/etc/systemd/system`` and
    no ``/dev/null`` link masks it, read on the node's disk by the host. What is recorded:
    units both running and enabled, minus the oneshots and timer-activated units that may
    run at that instant and end by themselves, minus ``TRANSIENT_SERVICES``, minus the units
    the scenario's own work names (``words``).
    """

    name = "linux.services_kept"
    summary = (
        "The services enabled and running at exam start still run and stay enabled "
        "(read from the host)"
    )

    class Params(PluginParams):
        words: list[str] = Field(
            default=[],
            description="words the scenario's own work uses (checks, faults, solution "
            "steps): a unit one of them names is not kept (its state is the scenario's)",
        )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        listing = p.run(ev, session, "slice", ["ls", "-1", "-A", "--", SYSTEM_SLICE])
        for unit in _names(listing):
            if unit.endswith(".service"):
                procs = f"{SYSTEM_SLICE}/{unit}/cgroup.procs"
                p.run(ev, session, f"procs:{unit}", ["cat", "--", procs])
        etc = p.run(ev, session, "etc", ["ls", "-1", "-A", "--", SYSTEMD_ETC])
        for name in _names(etc):
            path = f"{SYSTEMD_ETC}/{name}"
            if name.endswith((".wants", ".requires")):
                p.run(ev, session, f"wants:{name}", ["ls", "-1", "-A", "--", path])
            elif name.endswith(".service"):
                p.run(ev, session, f"link:{name}", ["readlink", "--", path])
        return ev

    def identify(self, session: CommandSession, params: Params) -> dict[str, str]:
        ev = self.collect(session, params)
        seen = units_seen(ev)
        if isinstance(seen, Judgement):
            raise SessionError(f"services not recorded: {seen.why_en}")
        kept = {
            u
            for u in seen.running & seen.enabled.keys()
            if u not in seen.masked
            and u not in TRANSIENT_SERVICES
            and not named_by(u, params.words)
        }
        # A oneshot or a timer's service may be running at this instant and end by itself:
        # keeping it would make the check flaky. Their unit files are read from the disk.
        for unit in sorted(kept):
            link = f"{SYSTEMD_ETC}/{seen.enabled[unit][0]}/{unit}"
            text = self._read(session, link)
            if text is None or "oneshot" in _unit_file_keys(text, "Service", "Type")[-1:]:
                kept.discard(unit)
        for timer, dirs in seen.enabled.items():
            if not timer.endswith(".timer"):
                continue
            text = self._read(session, f"{SYSTEMD_ETC}/{dirs[0]}/{timer}") or ""
            activated = _unit_file_keys(text, "Timer", "Unit") or [
                timer.removesuffix(".timer") + ".service"
            ]
            kept -= set(activated)
        return {KEPT_KEY: " ".join(sorted(kept))}

    @staticmethod
    def _read(session: CommandSession, path: str) -> str | None:
        r = session.run(["head", "-c", str(_UNIT_FILE_LIMIT), "--", path])
        return r.stdout if r.ok and r.source == "host" else None

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        if KEPT_KEY not in ev.baseline:
            return Judgement.error(
                "les services du nœud n'ont pas été relevés au début de l'épreuve : "
                "impossible de dire lesquels ont été arrêtés",
                "the node's services were not recorded at exam start",
            )
        seen = units_seen(ev)
        if isinstance(seen, Judgement):
            return seen
        was = [u for u in ev.baseline[KEPT_KEY].split() if not named_by(u, params.words)]
        stopped = [u for u in was if u not in seen.running]
        disabled = [u for u in was if u not in seen.enabled or u in seen.masked]
        if stopped or disabled:
            said_fr, said_en = [], []
            if stopped:
                said_fr.append(
                    "service(s) arrêté(s) depuis le début de l'épreuve : " + " ".join(stopped)
                )
                said_en.append("stopped since exam start: " + " ".join(stopped))
            if disabled:
                said_fr.append(
                    "service(s) désactivé(s) ou masqué(s) au démarrage : " + " ".join(disabled)
                )
                said_en.append("disabled or masked: " + " ".join(disabled))
            return Judgement.failed(
                " ; ".join(said_fr) + " : dommage collatéral",
                "; ".join(said_en),
                f"{SYSTEM_SLICE} (lu depuis l'hôte) : {len(seen.running)} service(s) avec "
                f"un processus ; attendus : {' '.join(was)}",
            )
        if not was:
            return Judgement.passed(
                "aucun service actif et activé n'avait été relevé au début de l'épreuve "
                "(hors ceux que l'intervention concerne) : rien à garder",
                "no service was recorded at exam start: nothing to keep",
                "relevé vide",
            )
        return Judgement.passed(
            f"les {len(was)} service(s) actifs et activés au début de l'épreuve ont toujours "
            "un processus dans leur cgroup (lu depuis l'hôte) et restent activés",
            f"the {len(was)} services of exam start still have a process and stay enabled",
            " ".join(was),
        )


@register_check
class Cron(LinuxCheck["Cron.Params"]):
    name = "linux.cron"
    summary = "A cron job (or systemd timer) runs the given command"

    class Params(PluginParams):
        user: str = Field(default="root", pattern=r"^[A-Za-z0-9._-]+$")
        command: str = Field(description="text the job's command line contains")
        schedule: str | None = Field(default=None, description="five cron fields, if imposed")

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        # Where a job actually runs (issue 12 §7): the user's spool crontab as cron reads it
        # (its file, its mode and owner), /etc/crontab and cron.d, the run-parts folders, and
        # the enabled systemd timers. Files are read host-side on a container node.
        spool = f"/var/spool/cron/crontabs/{params.user}"
        p.run(ev, session, "crontab", ["cat", "--", spool])
        p.run(ev, session, "crontab_stat", [*p.C_LOCALE, "stat", "-c", p.STAT_FORMAT, "--", spool])
        p.run(ev, session, "passwd", ["cat", "--", "/etc/passwd"])
        p.run(ev, session, "files", ["sh", "-c", p.CRON_FILES_SCRIPT])
        p.run(ev, session, "run_parts", ["sh", "-c", p.RUN_PARTS_SCRIPT])
        p.run(ev, session, "cron_stats", ["sh", "-c", p.CRON_STATS_SCRIPT])
        t = p.run(
            ev,
            session,
            "timers",
            _systemctl_show("Id,Unit,TimersCalendar,ActiveState,UnitFileState", "*.timer"),
        )
        try:
            units = (
                [b["Unit"] for b in p.parse_systemctl_show(t.stdout) if b.get("Unit")]
                if t.ok
                else []
            )
        except ValueError:
            units = []
        if units:
            p.run(ev, session, "timer_units", _systemctl_show("Id,ExecStart,User", *units))
        return ev

    @staticmethod
    def _crontab_ignored(ev: Evidence, user: str) -> str:
        """Why cron skips the user's spool crontab ("" when it reads it, or when unknown)."""
        st = p.output(ev, "crontab_stat")
        info = p.parse_stat(st.stdout) if st is not None and st.ok else None
        if info is None:
            return ""
        pw = p.output(ev, "passwd")
        uid = None
        for line in pw.stdout.splitlines() if pw is not None and pw.ok else []:
            fields = line.split(":")
            if len(fields) >= 3 and fields[0] == user and fields[2].isdigit():
                uid = int(fields[2])
        facts = p.CronFileFacts(info.uid, info.mode, 1, info.kind)
        return p.user_crontab_ignored(user, uid, facts)

    def _timer_jobs(self, ev: Evidence) -> list[p.CronJob] | None:
        t, u = p.output(ev, "timers"), p.output(ev, "timer_units")
        if t is None or not t.ok:
            return None
        try:
            timers = p.parse_systemctl_show(t.stdout)
            services = (
                {b.get("Id"): b for b in p.parse_systemctl_show(u.stdout)}
                if u is not None and u.ok
                else {}
            )
        except ValueError:
            return None
        jobs = []
        for timer in timers:
            svc = services.get(timer.get("Unit"), {})
            cal = p.findall_between(timer.get("TimersCalendar", ""), "OnCalendar=", _SPACE_SEMI)
            schedule = p.oncalendar_to_cron(cal[0]) if len(cal) == 1 else None
            ignored = ""
            if timer.get("ActiveState") != "active":
                ignored = f"le minuteur {timer.get('Id')} n'est pas actif"
            elif timer.get("UnitFileState", "enabled") not in ("enabled", "static"):
                # Started by hand only: it would not run after the next boot.
                ignored = f"le minuteur {timer.get('Id')} n'est pas activé au démarrage"
            for argv in p.execstart_argvs(svc.get("ExecStart", "")):
                jobs.append(
                    p.CronJob(
                        timer.get("Id", "?"),
                        schedule or "?",
                        svc.get("User") or "root",
                        argv,
                        f"{timer.get('Id')}: {'; '.join(cal)} -> {argv}",
                        ignored,
                    )
                )
        return jobs

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        c, f = p.output(ev, "crontab"), p.output(ev, "files")
        no_crontab = c is not None and (
            (c.rc == 1 and "no crontab" in c.stderr.lower()) or p.says_no_such_file(c)
        )
        if c is None or not (c.ok or no_crontab):
            return p.not_run(c, "lecture de la crontab")
        if f is None or not f.ok:
            return p.not_run(f, "lecture de /etc/crontab et /etc/cron.d")
        stats_out = p.output(ev, "cron_stats")
        stats = p.parse_cron_stats(stats_out.stdout) if stats_out is not None else {}
        jobs = []
        if c.ok:
            tab_ignored = self._crontab_ignored(ev, params.user)
            for job in p.parse_cron_table(
                c.stdout, f"crontab de {params.user}", with_user=False, owner=params.user
            ):
                jobs.append(replace(job, ignored=job.ignored or tab_ignored))
        for job in p.parse_cron_files(f.stdout):
            path_ignored = p.system_file_ignored(job.source, stats.get(job.source))
            jobs.append(replace(job, ignored=job.ignored or path_ignored))
        rp = p.output(ev, "run_parts")
        if rp is not None and rp.ok:
            jobs += p.run_parts_jobs(rp.stdout, stats, jobs)
        timer_jobs = self._timer_jobs(ev)
        jobs += timer_jobs or []
        found = [j for j in jobs if params.command in j.command and j.user == params.user]
        if not found:
            return Judgement.failed(
                f"aucune tâche planifiée de {params.user} ne lance « {params.command} »",
                f"no job of {params.user} runs {params.command!r}",
                "aucune tâche correspondante",
            )
        live = [j for j in found if not j.ignored]
        if not live:
            return Judgement.failed(
                found[0].ignored, f"job exists but is ignored: {found[0].ignored}", found[0].line
            )
        if params.schedule is None:
            return Judgement.passed(
                f"tâche planifiée trouvée ({live[0].source})", "job found", live[0].line
            )
        want = p.normalize_schedule(params.schedule)
        for job in live:
            if p.normalize_schedule(job.schedule) == want:
                return Judgement.passed(
                    f"tâche planifiée trouvée à l'horaire demandé ({job.source})",
                    "job found with the expected schedule",
                    job.line,
                )
        if any(j.schedule == "?" for j in live) and not any(
            p.normalize_schedule(j.schedule) for j in live
        ):
            return Judgement.error(
                "la tâche est un minuteur systemd dont l'horaire n'est pas comparable",
                "timer schedule not comparable to cron fields",
                live[0].line,
            )
        return Judgement.failed(
            f"la tâche existe mais pas à l'horaire {params.schedule}",
            f"job runs at {live[0].schedule}, not {params.schedule}",
            live[0].line,
        )


@register_check
class Printer(LinuxCheck["Printer.Params"]):
    name = "linux.printer"
    summary = "A CUPS queue exists, is enabled, accepts jobs and is (or is not) the default"

    class Params(PluginParams):
        queue: str = Field(pattern=r"^[^\s/#]+$")
        enabled: bool = True
        accepting: bool = True
        default: bool | None = None

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        # Without a running cupsd, lpstat calls every queue "invalid": ask about cupsd first.
        p.run(ev, session, "scheduler", [*p.C_LOCALE, "lpstat", "-r"])
        p.run(ev, session, "printer", [*p.C_LOCALE, "lpstat", "-p", params.queue])
        p.run(ev, session, "accepting", [*p.C_LOCALE, "lpstat", "-a", params.queue])
        if params.default is not None:
            p.run(ev, session, "default", [*p.C_LOCALE, "lpstat", "-d"])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        q = params.queue
        r, a = p.output(ev, "printer"), p.output(ev, "accepting")
        if r is None or a is None:
            return p.not_run(r, "lpstat")
        sched = p.output(ev, "scheduler")
        state = p.fold(sched.stdout) if sched is not None and sched.ok else ""
        if "not running" in state or "pas en cours" in state:
            return Judgement.error(
                "le service d'impression CUPS ne tourne pas : état de la file illisible",
                "CUPS scheduler not running, queue state unknown",
                p.first_line(state),
            )
        if "running" not in state and "en cours" not in state:
            return p.not_run(sched, "lpstat -r")
        for x in (r, a):
            low = p.fold(x.stderr)
            if (
                "invalid destination" in low
                or "destination incorrecte" in low
                or "non valide" in low
            ):
                return Judgement.failed(
                    f"la file d'impression {q} n'existe pas",
                    f"queue {q} does not exist",
                    p.quote(x),
                )
        enabled, line = p.parse_lpstat_printer(r.stdout, q)
        accepting, aline = p.parse_lpstat_accepting(a.stdout, q)
        if enabled is None:
            return p.not_run(r, "lpstat -p")
        if accepting is None:
            return p.not_run(a, "lpstat -a")
        if enabled != params.enabled:
            word = "désactivée" if not enabled else "activée"
            return Judgement.failed(f"la file {q} est {word}", f"queue {q} enabled={enabled}", line)
        if accepting != params.accepting:
            word = "refuse" if not accepting else "accepte"
            return Judgement.failed(
                f"la file {q} {word} les travaux", f"queue {q} accepting={accepting}", aline
            )
        decisive = f"{line} | {aline}"
        if params.default is not None:
            d = p.output(ev, "default")
            name, dline = p.parse_lpstat_default(
                (d.stdout + "\n" + d.stderr) if d is not None else ""
            )
            if name is None:
                return p.not_run(d, "lpstat -d")
            decisive += f" | {dline}"
            if (name == q) != params.default:
                what = (
                    f"la file par défaut est {name or 'absente'}"
                    if params.default
                    else f"{q} est la file par défaut"
                )
                return Judgement.failed(what, f"default queue is {name!r}", dline)
        return Judgement.passed(
            f"la file {q} est dans l'état attendu", f"queue {q} as expected", decisive
        )


@register_check
class Sshd(LinuxCheck["Sshd.Params"]):
    name = "linux.sshd"
    summary = "The effective sshd settings (root login, password authentication)"

    class Params(PluginParams):
        permit_root_login: Literal["yes", "no", "prohibit-password"] | None = None
        password_authentication: bool | None = None

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "sshd", [*p.C_LOCALE, "sshd", "-T"])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "sshd")
        if (
            r is not None
            and r.rc == 255
            and re.search(r"line \d+: |Bad configuration option", r.stderr)
        ):
            return Judgement.failed(
                "la configuration de sshd est invalide (le service ne redémarrerait pas)",
                "sshd configuration is invalid",
                p.quote(r),
            )
        settings = p.parse_sshd_t(r.stdout) if r is not None and r.ok else {}
        if "permitrootlogin" not in settings or "passwordauthentication" not in settings:
            return p.not_run(r, "sshd -T")
        root = {"without-password": "prohibit-password"}.get(
            settings["permitrootlogin"], settings["permitrootlogin"]
        )
        pw = settings["passwordauthentication"]
        decisive = f"permitrootlogin {settings['permitrootlogin']} ; passwordauthentication {pw}"
        if params.permit_root_login is not None and root != params.permit_root_login:
            return Judgement.failed(
                f"PermitRootLogin vaut {root} au lieu de {params.permit_root_login}",
                f"PermitRootLogin is {root}",
                decisive,
            )
        if (
            params.password_authentication is not None
            and (pw == "yes") != params.password_authentication
        ):
            return Judgement.failed(
                f"PasswordAuthentication vaut {pw}", f"PasswordAuthentication is {pw}", decisive
            )
        return Judgement.passed(
            "la configuration de sshd est conforme", "sshd settings as expected", decisive
        )
