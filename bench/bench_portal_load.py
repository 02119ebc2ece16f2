#!/usr/bin/env python3
"""Load the portal: N candidates with an open web terminal each, "check my work" once a second.

The server is its own process (uvicorn on 127.0.0.1, a free port), so its CPU and memory
are read alone from /proc: it serves ``terminal_routes`` (a PTY per candidate, ``lxc-attach``
into a node) and a check route that runs ``exam.practice.check_work`` in a worker thread, as
the portal's practice route runs it. This process is the load: N WebSocket clients, each
typing one key a second and timing its echo, and one check a second across the candidates.

One real lab (securiser-poste, faults off; brought up for candidate ``i15-instr``, or
--lab) serves every terminal (round robin over its nodes) and every check: N labs do not
fit on the 2-CPU host this was written on. So each candidate has their own shell (their
own PTY and ``lxc-attach``), but the checks all grade that one lab, as its own candidate
(the one candidate with a lab in a practice session ``bench-charge-PID`` made for the run
and removed at the end). Bounded: at most --seconds (300) of load, --terminals (40), 30
checks waiting at once; 127.0.0.1 only. Needs root and LXC; without --lab the lab is
brought up and removed at the end.

    python bench/bench_portal_load.py [--lab ID] [--terminals 15] [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOGIN = "i15-instr"
SCENARIO = "securiser-poste"
KEYS = "abcdefghijklmnopqrstuvwxyz"
CLEAR_LINE = b"\x15"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
#: Checks waiting for their answer at once, at most (the load's bound).
MAX_IN_FLIGHT = 30


# -- the server (a child process) ----------------------------------------------------------------


def serve(port: int, lab_id: str, session: str, login: str) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.websockets import WebSocket

    from tai_labs.exam.practice import check_work
    from tai_labs.portal.pty_sessions import TerminalSessions
    from tai_labs.portal.terminal import NodeTarget, lab_node_target, terminal_routes

    def authorize(websocket: WebSocket, lab: str, node: str) -> NodeTarget | None:
        who = websocket.query_params.get("candidat", "")
        return lab_node_target(f"bench-{who}", lab, node) if lab == lab_id and who else None

    async def check(request: Request) -> JSONResponse:
        # What the practice route does: the library's check, off the event loop.
        runs = await run_in_threadpool(check_work, session, login)
        return JSONResponse(
            {
                "points": runs[0].points,
                "max_points": runs[0].max_points,
                "checks": len(runs[0].checks),
            }
        )

    app = Starlette(
        routes=[
            *terminal_routes(authorize, sessions=TerminalSessions(grace=1)),
            Route("/check", check, methods=["POST"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


# -- /proc ---------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """The server and every process under it (the PTYs' lxc-attach and shells)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of the process; with ``children``, plus its reaped children's (the
    commands it ran: ``lxc-attach`` of a grading's exec, a closed terminal)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = int(fields[11]) + int(fields[12])
    return (own + (int(fields[13]) + int(fields[14]) if children else 0)) / TICK


def _rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def _hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Sampler:
    """Samples the server's CPU share and memory every second."""

    pid: int
    cpu: list[float] = field(default_factory=list)
    cpu_children: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    tree_rss: list[float] = field(default_factory=list)
    tree_procs: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        last_at = time.monotonic()
        last_cpu, last_all = _cpu_seconds(self.pid), _cpu_seconds(self.pid, children=True)
        while not self.stop.wait(1.0):
            at = time.monotonic()
            cpu, every = _cpu_seconds(self.pid), _cpu_seconds(self.pid, children=True)
            self.cpu.append((cpu - last_cpu) / (at - last_at) * 100)
            self.cpu_children.append((every - last_all) / (at - last_at) * 100)
            last_cpu, last_all, last_at = cpu, every, at
            self.rss.append(_rss_mib(self.pid))
            total, procs = 0.0, 0
            for pid in _tree(self.pid):
                try:
                    total += _rss_mib(pid)
                    procs += 1
                except OSError:
                    continue
            self.tree_rss.append(total)
            self.tree_procs.append(procs)


# -- the load ------------------------------------------------------------------------------------


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    echoes: list[float] = field(default_factory=list)
    checks: list[float] = field(default_factory=list)
    #: Checks not sent: MAX_IN_FLIGHT were waiting already (the load's own bound).
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def _recv_until(ws: Any, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        msg = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(msg, bytes):
            seen += msg
    return seen


def _drain(ws: Any) -> None:
    try:
        while True:
            ws.recv(timeout=0.05)
    except TimeoutError:
        pass


def terminal(
    url: str, name: str, until: list[float], ready: threading.Barrier, tally: Tally
) -> None:
    """One candidate: open the terminal, wait for every other one, then a key a second, its
    echo timed, until ``until[0]`` (set when all are open); at the end, a command whose
    output proves the shell is still alive."""
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=60, max_size=2**20) as ws:
            _recv_until(ws, b"# ", timeout=60)
            _drain(ws)
            ready.wait(timeout=120)
            i = 0
            while time.monotonic() < until[0]:
                key = KEYS[i % len(KEYS)].encode()
                started = time.perf_counter()
                ws.send(key)
                _recv_until(ws, key, timeout=10)
                with tally.lock:
                    tally.echoes.append(time.perf_counter() - started)
                i += 1
                if i % len(KEYS) == 0:
                    ws.send(CLEAR_LINE)
                time.sleep(1.0)
            ws.send(CLEAR_LINE)
            ws.send(f"echo fin-{name}-$((6*7))\r".encode())
            _recv_until(ws, f"fin-{name}-42".encode(), timeout=20)
    except threading.BrokenBarrierError:
        tally.error(f"{name}: the others' terminals did not open in time")
    except Exception as exc:  # every failure of a candidate's terminal is a counted error
        tally.error(f"{name}: {type(exc).__name__}: {exc}")
        if not ready.broken and ready.n_waiting < ready.parties and until[0] == 0.0:
            ready.abort()  # never opened: the run stops rather than wait for it


def checker(base: str, until: float, rate: float, tally: Tally) -> None:
    """One "check my work" per 1/rate s, each in its own thread: a slow grading does not
    delay the next one (a class does not wait for each other), at most MAX_IN_FLIGHT."""
    in_flight = threading.Semaphore(MAX_IN_FLIGHT)

    def one() -> None:
        started = time.perf_counter()
        try:
            request = urllib.request.Request(f"{base}/check", method="POST", data=b"")
            with urllib.request.urlopen(request, timeout=120) as answer:
                body = json.load(answer)
                if answer.status != 200 or body["checks"] <= 0:
                    tally.error(f"check: {answer.status} {body}")
                    return
            with tally.lock:
                tally.checks.append(time.perf_counter() - started)
        except Exception as exc:
            tally.error(f"check: {type(exc).__name__}: {exc}")
        finally:
            in_flight.release()

    threads = []
    next_at = time.monotonic()
    while next_at < until:
        time.sleep(max(0.0, next_at - time.monotonic()))
        if not in_flight.acquire(blocking=False):
            with tally.lock:
                tally.skipped += 1
        else:
            thread = threading.Thread(target=one)
            thread.start()
            threads.append(thread)
        next_at += 1.0 / rate
    for thread in threads:
        thread.join(timeout=180)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _practice_session(name: str, owner: str, lab_seed: int, terminals: int) -> None:
    """A practice session whose first candidate owns the lab (its draw is the lab's seed)."""
    from tai_labs.exam.model import Candidate, Draw, Session, SessionScenario
    from tai_labs.exam.store import ExamStore
    from tai_labs.scenario.catalog import find

    logins = [owner] + [f"cand{i:02d}" for i in range(2, terminals + 1)]
    ExamStore().create(
        Session(
            name=name,
            block="CCP1",
            practice=True,
            scenarios=(
                SessionScenario(
                    id=SCENARIO,
                    title="Sécuriser un poste",
                    block="CCP1",
                    file=str(find(SCENARIO)),
                    variants=1,
                ),
            ),
            created=datetime.now(UTC),
            draw_key="0" * 32,
            candidates=tuple(
                Candidate(
                    login=login,
                    nom=login,
                    prenom="Banc",
                    roster_line=i + 2,
                    login_derived=False,
                    draws=(Draw(scenario=SCENARIO, seed=lab_seed if i == 0 else i, variant={}),),
                )
                for i, login in enumerate(logins)
            ),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", help=f"an existing {SCENARIO} lab (else one is brought up)")
    parser.add_argument("--terminals", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1.0, help="checks per second")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--serve", nargs=4, metavar=("PORT", "LAB", "SESSION", "LOGIN"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2], args.serve[3])
        return
    terminals = max(1, min(args.terminals, 40))
    seconds = max(5.0, min(args.seconds, 300.0))
    rate = max(0.1, min(args.rate, 4.0))

    from tai_labs.exam.practice import record_path
    from tai_labs.exam.store import ExamStore
    from tai_labs.lab import lifecycle
    from tai_labs.lab.runtime import open_lab
    from tai_labs.lab.store import Store
    from tai_labs.providers.naming import new_lab_id
    from tai_labs.scenario.catalog import find

    lab_id = args.lab or new_lab_id()
    built = args.lab is None
    up_seconds = None
    if built:
        started = time.monotonic()
        lifecycle.up(find(SCENARIO), candidate=LOGIN, seed=0, lab_id=lab_id, faults=False)
        up_seconds = time.monotonic() - started
    session = f"bench-charge-{os.getpid()}"
    server = None
    owner = LOGIN
    try:
        record = Store().lab(lab_id)
        owner = record.candidate
        if record.scenario != SCENARIO:
            raise SystemExit(f"lab {lab_id} is a {record.scenario} lab, not {SCENARIO}")
        _practice_session(session, owner, record.seed, terminals)
        nodes = [n.name for n in open_lab(lab_id).plan.nodes]
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), lab_id, session, owner],
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        idle_rss = _rss_mib(server.pid)
        tally = Tally()
        until = [0.0]

        def go() -> None:  # when the last terminal is open: the measured window starts
            until[0] = time.monotonic() + seconds

        ready = threading.Barrier(terminals + 1, action=go)
        threads = []
        opened_at = time.monotonic()
        for i in range(terminals):
            node = nodes[i % len(nodes)]
            name = f"cand{i + 1:02d}"
            url = f"ws://127.0.0.1:{port}/lab/{lab_id}/node/{node}/terminal/ws?candidat={name}"
            thread = threading.Thread(target=terminal, args=(url, name, until, ready, tally))
            thread.start()
            threads.append(thread)
        sampler = Sampler(server.pid)
        sampler_thread = threading.Thread(target=sampler.run)
        try:
            ready.wait(timeout=120)
        except threading.BrokenBarrierError:
            tally.error("the terminals did not all open within 120 s")
            until[0] = time.monotonic()  # nobody types: the opened ones close at once
        open_seconds = time.monotonic() - opened_at
        sampler_thread.start()
        checker(base, until[0], rate, tally)
        for thread in threads:
            thread.join(timeout=60)
        sampler.stop.set()
        sampler_thread.join()
        hwm = _hwm_mib(server.pid)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        if ExamStore().find(session) is not None:
            ExamStore().remove(session)
        path = record_path(session, owner)
        if path.exists():
            path.unlink()
            for leftover in path.parent.iterdir():
                leftover.unlink()
            path.parent.rmdir()
        if built:
            lifecycle.down(lab_id)

    result = {
        "conditions": {
            "terminals": terminals,
            "seconds": seconds,
            "check_rate_per_s": rate,
            "lab": f"{SCENARIO} ({len(nodes)} nodes: {', '.join(nodes)}), one lab for all",
            "cpus": os.cpu_count(),
            "load_before": os.getloadavg(),
            "lab_up_seconds": round(up_seconds, 1) if up_seconds else None,
        },
        "terminals_open_seconds": round(open_seconds, 1),
        "keystrokes": len(tally.echoes),
        "echo_median_ms": round(statistics.median(tally.echoes) * 1000, 1)
        if tally.echoes
        else None,
        "echo_p95_ms": round(_pct(tally.echoes, 0.95) * 1000, 1) if tally.echoes else None,
        "checks": len(tally.checks),
        "check_median_s": round(statistics.median(tally.checks), 2) if tally.checks else None,
        "check_p95_s": round(_pct(tally.checks, 0.95), 2) if tally.checks else None,
        "server_cpu_mean_pct": round(statistics.mean(sampler.cpu), 1) if sampler.cpu else None,
        "server_cpu_max_pct": round(max(sampler.cpu), 1) if sampler.cpu else None,
        "server_cpu_with_children_mean_pct": round(statistics.mean(sampler.cpu_children), 1)
        if sampler.cpu_children
        else None,
        "checks_skipped_in_flight_bound": tally.skipped,
        "server_rss_idle_mib": round(idle_rss, 1),
        "server_rss_max_mib": round(max(sampler.rss), 1) if sampler.rss else None,
        "server_rss_peak_hwm_mib": round(hwm, 1),
        "server_tree_rss_max_mib": round(max(sampler.tree_rss), 1) if sampler.tree_rss else None,
        "server_tree_processes_max": max(sampler.tree_procs) if sampler.tree_procs else None,
        "errors": len(tally.errors),
        "error_samples": tally.errors[:10],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
