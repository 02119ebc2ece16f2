"""A scheduled job is looked for where it would actually run (issue 12 §7): the user's spool
crontab as cron reads it, /etc/crontab and cron.d, the run-parts folders, enabled timers."""

from __future__ import annotations

from graderkit import evidence, out

from tai_labs.grading import parsers as p
from tai_labs.grading.model import Verdict

PASS, FAIL = Verdict.PASS, Verdict.FAIL
CMD = "/srv/sauvegarde"
ETC_CRONTAB = (
    "SHELL=/bin/sh\n17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"
    "25 6\t* * *\troot\ttest -x /usr/sbin/anacron || "
    "{ cd / && run-parts --report /etc/cron.daily; }\n"
)
NO_TIMERS = out(0, "")
PASSWD = out(0, "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n")


def block(path: str, content: str) -> str:
    return f"==> {path} <==\n{content}\n<== EOF\n"


def cron_ev(
    *, crontab=None, stat=None, files="", run_parts="", stats="", timers=NO_TIMERS, units=None
):  # type: ignore[no-untyped-def]
    outputs = {
        "crontab": crontab
        or out(1, "", "cat: /var/spool/cron/crontabs/root: No such file or directory"),
        "crontab_stat": stat or out(1, "", "stat: cannot statx: No such file or directory"),
        "passwd": PASSWD,
        "files": out(0, block("/etc/crontab", ETC_CRONTAB) + files),
        "run_parts": out(0, run_parts),
        "cron_stats": out(0, "/etc/crontab|0|644|1|regular file\n" + stats),
        "timers": timers,
    }
    if units is not None:
        outputs["timer_units"] = units
    return evidence(**outputs)


def test_root_crontab_spool_file(judge) -> None:
    tab = out(0, "30 12 * * * tar czf /srv/sauvegarde/home.tgz /home\n")
    ok = cron_ev(crontab=tab, stat=out(0, "regular file|600|root|crontab|0|107|60\n"))
    assert judge("linux.cron", ok, command=CMD, schedule="30 12 * * *").verdict is PASS
    # A spool file cron refuses (mode 644): the job does not run.
    bad = cron_ev(crontab=tab, stat=out(0, "regular file|644|root|crontab|0|107|60\n"))
    j = judge("linux.cron", bad, command=CMD, schedule="30 12 * * *")
    assert j.verdict is FAIL and "BAD FILE MODE" in j.why_fr
    # Commented out: no job at all.
    commented = out(0, "#30 12 * * * tar czf /srv/sauvegarde/home.tgz /home\n")
    assert judge("linux.cron", cron_ev(crontab=commented), command=CMD).verdict is FAIL


def test_cron_d_file_owner_and_mode(judge) -> None:
    job = block("/etc/cron.d/sauvegarde", "30 12 * * * root tar czf /srv/sauvegarde/h.tgz /home\n")
    ok = cron_ev(files=job, stats="/etc/cron.d/sauvegarde|0|644|1|regular file\n")
    assert judge("linux.cron", ok, command=CMD, schedule="30 12 * * *").verdict is PASS
    writable = cron_ev(files=job, stats="/etc/cron.d/sauvegarde|0|666|1|regular file\n")
    j = judge("linux.cron", writable, command=CMD)
    assert j.verdict is FAIL and "modifiable" in j.why_fr
    foreign = cron_ev(files=job, stats="/etc/cron.d/sauvegarde|1000|644|1|regular file\n")
    assert "WRONG FILE OWNER" in judge("linux.cron", foreign, command=CMD).why_fr
    dotted = block("/etc/cron.d/sauvegarde.cron", "30 12 * * * root /srv/sauvegarde/run\n")
    assert judge("linux.cron", cron_ev(files=dotted), command=CMD).verdict is FAIL


def test_run_parts_folders(judge) -> None:
    script = block("/etc/cron.daily/sauvegarde", "#!/bin/sh\ntar czf /srv/sauvegarde/h.tgz /home\n")
    ok = cron_ev(run_parts=script, stats="/etc/cron.daily/sauvegarde|0|755|1|regular file\n")
    j = judge("linux.cron", ok, command=CMD)
    assert j.verdict is PASS and "cron.daily" in j.decisive
    # It runs at the time /etc/crontab runs the folder (06:25), not at any time asked.
    assert judge("linux.cron", ok, command=CMD, schedule="25 6 * * *").verdict is PASS
    assert judge("linux.cron", ok, command=CMD, schedule="30 12 * * *").verdict is FAIL
    not_exec = cron_ev(run_parts=script, stats="/etc/cron.daily/sauvegarde|0|644|1|regular file\n")
    assert "exécutable" in judge("linux.cron", not_exec, command=CMD).why_fr
    dotted = block("/etc/cron.daily/sauvegarde.sh", "tar czf /srv/sauvegarde/h.tgz /home\n")
    assert judge("linux.cron", cron_ev(run_parts=dotted), command=CMD).verdict is FAIL
    weekly = block("/etc/cron.weekly/sauvegarde", "tar czf /srv/sauvegarde/h.tgz /home\n")
    j = judge("linux.cron", cron_ev(run_parts=weekly), command=CMD)
    assert j.verdict is FAIL and "cron.weekly" in j.why_fr  # no line of /etc/crontab runs it


def test_timer_must_be_enabled(judge) -> None:
    def timers(state: str) -> object:
        return out(
            0,
            "Id=sauvegarde.timer\nUnit=sauvegarde.service\n"
            "TimersCalendar={ OnCalendar=*-*-* 12:30:00 ; next_elapse=n/a }\n"
            f"ActiveState=active\nUnitFileState={state}\n",
        )

    units = out(
        0,
        "Id=sauvegarde.service\nExecStart={ path=/usr/bin/tar ; argv[]=/usr/bin/tar czf "
        "/srv/sauvegarde/h.tgz /home ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; "
        "pid=0 ; code=(null) ; status=0/0 }\nUser=\n",
    )
    on = cron_ev(timers=timers("enabled"), units=units)
    assert judge("linux.cron", on, command=CMD, schedule="30 12 * * *").verdict is PASS
    started_only = cron_ev(timers=timers("disabled"), units=units)
    j = judge("linux.cron", started_only, command=CMD)
    assert j.verdict is FAIL and "activé au démarrage" in j.why_fr


def test_file_facts_parser() -> None:
    facts = p.parse_cron_stats("/etc/cron.d/a|0|644|1|regular file\ngarbage\n/x|y|644|1|f\n")
    assert list(facts) == ["/etc/cron.d/a"] and facts["/etc/cron.d/a"].mode == 0o644
