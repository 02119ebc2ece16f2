"""Feed mutated copies of the shipped scenarios to the loader, the way `tai-labs validate` does.

    python tests/fuzz/fuzz_loader.py --docs 2000               # the CI run (`make fuzz`)
    python tests/fuzz/fuzz_loader.py --docs 10000 --seed 1     # the README's figures
    python tests/fuzz/fuzz_loader.py --seed 7 --only 1234      # regenerate one document
    python tests/fuzz/fuzz_loader.py --replay path/scenario.yaml

Each document is written as a catalogue folder (``scenarios/<block>/<id>/`` beside a copy of
``_topologies``) and validated in a worker process with a time bound; a worker that overruns
is killed. Outcomes: a clean project error, valid, an uncaught exception (grouped by type and
innermost tai_labs frame), or an overrun. Reproducers of each failure class are kept under
``--out``. Exit code 1 when there is any traceback or overrun.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mutations

MEMORY_LIMIT = 3 * 1024**3  # per worker: an alias bomb must fail, not swap the machine
WARM_UP = mutations.CATALOGUE / "ccp2" / "compte-verrouille" / "scenario.yaml"
SLOW = 2.0  # the bound for one document; reported, not failed (shared CI machine)


def _frame(exc: BaseException) -> str:
    """Innermost frame inside tai_labs (where our code let the exception through)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/tai_labs/" in f.filename]
    f = (ours or frames or [None])[-1]
    if f is None:
        return "?"
    name = f.filename.split("/tai_labs/", 1)[-1] if "/tai_labs/" in f.filename else f.filename
    return f"{name}:{f.name}"


def _validate_one(path: Path) -> tuple[str, str, str]:
    """What `tai-labs validate PATH` does, minus the printing; returns (outcome, what, detail)."""
    from tai_labs.scenario.loader import validate

    try:
        diagnostics = validate(path)
        lines = [d.format() for d in diagnostics]
        for d in diagnostics:
            d.as_dict()
    except RecursionError as exc:
        return "traceback", "RecursionError", _frame(exc)
    except Exception as exc:
        return "traceback", type(exc).__name__, f"{_frame(exc)} | {str(exc)[:160]!r}"
    if not diagnostics:
        return "valid", "", ""
    unlocated = [ln for ln in lines if not _has_line(ln)]
    return "error", str(len(lines)), unlocated[0] if unlocated else ""


def _has_line(line: str) -> bool:
    parts = line.split(":")
    return len(parts) > 2 and parts[1].isdigit() and parts[1] != "0"


def _worker(conn: Connection) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    # Warm up once (imports, the referential, plugin registries): the bound is per document,
    # and a worker respawned after an overrun must not charge its start to the next one.
    _validate_one(WARM_UP)

    while True:
        job = conn.recv()
        if job is None:
            return
        index, path = job
        start = time.monotonic()
        outcome = _validate_one(Path(path))
        conn.send((index, outcome, time.monotonic() - start))


class Pool:
    """Worker processes, each running one document at a time under a deadline."""

    def __init__(self, jobs: int, bound: float) -> None:
        self.bound = bound
        self.ctx = multiprocessing.get_context("fork")
        self.workers: list[dict[str, Any]] = [self._spawn() for _ in range(jobs)]

    def _spawn(self) -> dict[str, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "job": None, "deadline": 0.0, "start": 0.0}

    def idle(self) -> dict[str, Any] | None:
        return next((w for w in self.workers if w["job"] is None), None)

    def submit(self, worker: dict[str, Any], index: int, path: Path) -> None:
        worker["job"] = index
        worker["start"] = time.monotonic()
        worker["deadline"] = worker["start"] + self.bound
        worker["conn"].send((index, str(path)))

    def collect(self) -> list[tuple[int, tuple[str, str, str], float]]:
        """Wait for at least one busy worker to finish or overrun."""
        busy = [w for w in self.workers if w["job"] is not None]
        if not busy:
            return []
        timeout = max(0.0, min(w["deadline"] for w in busy) - time.monotonic())
        ready = wait([w["conn"] for w in busy], timeout=timeout)
        done = []
        now = time.monotonic()
        for i, w in enumerate(self.workers):
            if w["job"] is None:
                continue
            if w["conn"] in ready:
                try:
                    done.append(w["conn"].recv())
                    w["job"] = None
                    continue
                except EOFError:  # the worker died (killed by the kernel, a C crash)
                    code = w["proc"].exitcode
                    done.append((w["job"], ("traceback", "worker died", f"exit {code}"), 0.0))
            elif now < w["deadline"]:
                continue
            else:
                done.append((w["job"], ("overrun", "", ""), now - w["start"]))
            w["proc"].kill()
            w["proc"].join()
            self.workers[i] = self._spawn()
        return done

    def close(self) -> None:
        for w in self.workers:
            with contextlib.suppress(OSError):
                w["conn"].send(None)
            w["proc"].join(1)
            if w["proc"].is_alive():
                w["proc"].kill()


def run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    indexes = [args.only] if args.only is not None else list(range(args.docs))
    print(
        f"fuzz: seed {seed}, {len(indexes)} documents, bound {args.bound:g} s, {args.jobs} jobs",
        flush=True,
    )
    bases = mutations.shipped()
    out = Path(args.out or tempfile.mkdtemp(prefix=f"tai-fuzz-{seed}-"))
    work = Path(tempfile.mkdtemp(prefix="tai-fuzz-work-"))
    kept: dict[str, list[Path]] = defaultdict(list)
    counts: Counter[str] = Counter()
    classes: Counter[tuple[str, str]] = Counter()
    class_kinds: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    unlocated: list[tuple[int, str]] = []
    examples: dict[tuple[str, str], str] = {}
    times: list[float] = []
    docs: dict[int, tuple[Path, Path, mutations.Doc]] = {}
    pool = Pool(args.jobs, args.bound)
    started = time.monotonic()

    def record(index: int, outcome: tuple[str, str, str], elapsed: float) -> None:
        kind, what, detail = outcome
        folder, file, doc = docs.pop(index)
        counts[kind] += 1
        times.append(elapsed)
        label = ",".join(doc.kinds)
        if kind == "error" and detail:
            unlocated.append((index, detail))
        if kind in ("traceback", "overrun"):
            frame, _, message = detail.partition(" | ")
            key = (kind, f"{what} at {frame}" if kind == "traceback" else label)
            examples.setdefault(key, message)
            classes[key] += 1
            class_kinds[key].update(doc.kinds)
            if len(kept[key[1]]) < 3:
                dest = out / f"{kind}-{index}"
                shutil.copytree(folder, dest, dirs_exist_ok=True)
                (dest / "KINDS").write_text(f"seed {seed} index {index}: {label}\n")
                kept[key[1]].append(dest / file.relative_to(folder))
        shutil.rmtree(folder, ignore_errors=True)

    try:
        pending = iter(indexes)
        exhausted = False
        while True:
            worker = pool.idle()
            while worker is not None and not exhausted:
                index = next(pending, None)
                if index is None:
                    exhausted = True
                    break
                doc = mutations.make(seed, index, bases)
                folder = work / f"d{index}"
                mutations.write_topologies(folder)
                file = doc.write(folder)
                docs[index] = (folder, file, doc)
                pool.submit(worker, index, file)
                worker = pool.idle()
            results = pool.collect()
            for result in results:
                record(*result)
            if exhausted and not docs:
                break
            done = sum(counts.values())
            if args.progress and results and done // 100 > (done - len(results)) // 100:
                print(f"  {done} done, {time.monotonic() - started:.0f} s", flush=True)
    finally:
        pool.close()
        shutil.rmtree(work, ignore_errors=True)

    total = sum(counts.values())
    crashes = sum(n for (k, _), n in classes.items() if k == "traceback")
    distinct = len([1 for (k, _) in classes if k == "traceback"])
    times.sort()
    print(f"fuzz: {total} documents in {time.monotonic() - started:.0f} s (seed {seed})")
    print(f"  clean error  {counts['error']}")
    print(f"  valid        {counts['valid']}")
    print(f"  traceback    {counts['traceback']} ({distinct} distinct exception/frame pairs)")
    print(f"  overrun      {counts['overrun']} (> {args.bound:g} s, killed)")
    if times:
        slow = len([t for t in times if t > SLOW])
        median = times[len(times) // 2]
        print(
            f"  time         median {median:.3f} s, max {times[-1]:.2f} s, over {SLOW:g} s: {slow}"
        )
    if unlocated:
        print(f"  diagnostics without a line: {len(unlocated)} documents, e.g. {unlocated[0][1]}")
    for (kind, what), n in classes.most_common():
        kinds = ", ".join(k for k, _ in class_kinds[(kind, what)].most_common(3))
        print(f"{kind} x{n}: {what}  [{kinds}]")
        if examples.get((kind, what)):
            print(f"    e.g. {examples[(kind, what)]}")
        for path in kept[what]:
            print(f"    reproducer: {path}")
    if not classes:
        shutil.rmtree(out, ignore_errors=True)
    assert crashes == counts["traceback"]
    return 1 if counts["traceback"] or counts["overrun"] else 0


def replay(path: Path) -> int:
    start = time.monotonic()
    kind, what, detail = _validate_one(path)
    print(f"{kind} {what} {detail} ({time.monotonic() - start:.2f} s)")
    if kind == "traceback":
        from tai_labs.scenario.loader import validate

        validate(path)
    return 1 if kind == "traceback" else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="how many documents")
    parser.add_argument("--seed", type=int, help="default: a fresh one, printed")
    parser.add_argument("--bound", type=float, default=5.0, help="seconds per document")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--only", type=int, help="run only document number ONLY")
    parser.add_argument("--out", help="where reproducers go (default: a new temp folder)")
    parser.add_argument("--replay", type=Path, help="validate one file, traceback shown")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    if args.replay:
        return replay(args.replay)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
