#!/usr/bin/env python3
"""Measure "Vérifier mon travail" on the 3-node lab: the portal's HTTP route against the CLI.

A practice session of one candidate, their `compte-verrouille` lab (Samba AD DC, router,
client) brought up with their draw, and `tai-labs serve` on 127.0.0.1. Rounds alternate:

- ``http``: a logged-in client POSTs /lab/ID/check (the server grades in a worker thread and
  answers once the grading is done) and GETs the lab page that shows the result: what the
  candidate waits for between the click and the verdicts;
- ``cli``: `tai-labs session check SESSION --candidate LOGIN --json`, a new process each time
  (Python start and imports included), as an instructor's shell would run it.

Both record an attempt and keep the grade in the lab's history, like any practice check.
Bounded: --rounds (at most 50) per side. Prints the median and p95 of each, and the load
average before and after (the machine is shared). Needs root and what `tai-labs up` needs;
the session and the lab are removed at the end.

    python bench/bench_portal_check.py [--rounds 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tai_labs.exam.model import SessionState
from tai_labs.exam.practice import read_record
from tai_labs.exam.store import ExamStore
from tai_labs.locations import locations

SCENARIO = "compte-verrouille"
LOGIN = "bench-check"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def tai(*args: str, timeout: float = 1200) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tai_labs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"tai-labs {' '.join(args)} -> {out.returncode}\n{out.stderr}")
    return out.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_in(base: str, session: str, password: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=300, follow_redirects=False)
    token = CSRF.search(client.get("/login").text)
    assert token
    answer = client.post(
        "/login",
        data={"csrf": token.group(1), "session": session, "login": LOGIN, "password": password},
    )
    if answer.status_code != 303:
        raise RuntimeError(f"login refused: {answer.status_code}")
    return client, answer.headers["location"]


def http_check(client: httpx.Client, lab: str, token: str) -> float:
    started = time.perf_counter()
    answer = client.post(f"/lab/{lab}/check", data={"csrf": token})
    page = client.get(f"/lab/{lab}")
    elapsed = time.perf_counter() - started
    if answer.status_code != 303 or 'table class="checks"' not in page.text:
        raise RuntimeError(f"the check did not show its verdicts ({answer.status_code})")
    if "data-practice-running" in page.text:
        raise RuntimeError("the grading outlasted the route's wait: raise CHECK_WAIT")
    return elapsed


def cli_check(session: str) -> float:
    started = time.perf_counter()
    (run,) = json.loads(tai("session", "check", session, "--candidate", LOGIN, "--json"))
    elapsed = time.perf_counter() - started
    if not run["checks"]:
        raise RuntimeError("the CLI check graded nothing")
    return elapsed


def forget(session: str) -> None:
    """Remove the session: set `up` by hand (its lab came from `up`, not `session up`),
    `session rm` refuses it; the same rows `rm` removes, and the practice record."""
    with sqlite3.connect(locations().store) as db:
        db.execute("DELETE FROM exam_candidates WHERE session = ?", (session,))
        db.execute("DELETE FROM exam_sessions WHERE name = ?", (session,))
        db.execute("DELETE FROM portal_logins WHERE session = ?", (session,))
    shutil.rmtree(locations().data / "practice" / session, ignore_errors=True)


def summary(times: list[float]) -> dict[str, Any]:
    ms = sorted(t * 1000 for t in times)
    return {
        "rounds": len(ms),
        "median_ms": round(statistics.median(ms)),
        "p95_ms": round(ms[max(0, int(len(ms) * 0.95 + 0.5) - 1)]),
        "max_ms": round(ms[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rounds = max(1, min(args.rounds, 50))
    session = f"bench-check-{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix="bench-check-"))
    lab = None
    server = None
    try:
        roster = work / "roster.csv"
        roster.write_text(f"nom;prenom;identifiant\nBench;Check;{LOGIN}\n", encoding="utf-8")
        tai("session", "create", session, "-s", SCENARIO, "--roster", str(roster), "--practice")
        tai("session", "slips", session, "-o", str(work / "slips.html"))
        found = re.search(
            r"<dt>Mot de passe</dt><dd>([^<]+)</dd>", (work / "slips.html").read_text()
        )
        assert found
        password = found.group(1).strip()
        seed = json.loads(tai("session", "show", session, "--json"))["candidates"][0]["draws"][0][
            "seed"
        ]
        up_started = time.monotonic()
        lab = json.loads(tai("up", SCENARIO, "--candidate", LOGIN, "--seed", str(seed), "--json"))[
            "id"
        ]
        up_seconds = time.monotonic() - up_started
        ExamStore().set_state(session, SessionState.UP)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        exe = shutil.which("tai-labs", path=str(Path(sys.executable).parent)) or "tai-labs"
        server = subprocess.Popen(
            [exe, "serve", "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(150):
            try:
                httpx.get(f"{base}/login", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        client, _ = log_in(base, session, password)
        token = CSRF.search(client.get(f"/lab/{lab}").text)
        assert token
        load_before = os.getloadavg()
        http_check(client, lab, token.group(1))  # warm-up: sessions to the nodes, imports
        cli_check(session)
        http, cli = [], []
        for _ in range(rounds):
            http.append(http_check(client, lab, token.group(1)))
            cli.append(cli_check(session))
        load_after = os.getloadavg()
        attempts = len(read_record(session, LOGIN).attempts)
        if attempts != 2 * (rounds + 1):  # each click, each command: one grading recorded
            raise RuntimeError(f"{attempts} attempts recorded for {2 * (rounds + 1)} checks")
        results = {
            "lab": lab,
            "nodes": 3,
            "up_seconds": round(up_seconds, 1),
            "http": summary(http),
            "cli": summary(cli),
            "ratio_http_cli_median": round(statistics.median(http) / statistics.median(cli), 2),
            "cpus": os.cpu_count(),
            "load_before": [round(x, 1) for x in load_before],
            "load_after": [round(x, 1) for x in load_after],
        }
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        if lab is not None:
            tai("down", lab)
        forget(session)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results))
        return
    for side in ("http", "cli"):
        r = results[side]
        print(
            f"{side}: check my work over {r['rounds']} rounds: median {r['median_ms']} ms, "
            f"p95 {r['p95_ms']} ms, max {r['max_ms']} ms"
        )
    print(
        f"ratio http/cli (medians): {results['ratio_http_cli_median']}; "
        f"load average before {results['load_before']}, after {results['load_after']} "
        f"({results['cpus']} CPUs)"
    )


if __name__ == "__main__":
    main()
