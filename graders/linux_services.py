"""Checks on a Linux node's services: systemd units, scheduled jobs, printers, sshd.

How they collect and judge: ``graders/__init__.py``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal

from pydantic import Field

from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession

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
