"""Candidates' SSH gateway accounts for a session: opened at the start, closed at the end.

Each candidate gets one host account, named by their session login, whose password is the
one on their slip, and which reaches the nodes of all their labs (one per scenario of the
épreuve) and nothing else: the gateway of ``providers/gateway.py`` with one key per lab.
The password is never kept: `session slips` stores, beside its scrypt hash, a SHA-512
crypt(3) hash of it that ``chpasswd -e`` gives the system (docs/security.md).

Node names: a node keeps its scenario's name (``ssh -t LOGIN@host pc1``) unless another of
the candidate's scenarios has a node of that name; then each gets its scenario's number in
the épreuve as a suffix (``pc1-1``, ``pc1-2``).

``open_access`` and ``close_access`` are what `session start` and `session end` (the
clock) call, for the whole session or one candidate (``login``); both are idempotent.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tai_labs.errors import TaiLabsError
from tai_labs.exam.model import Candidate, Session
from tai_labs.exam.store import ExamStore, SessionStateError
from tai_labs.lab import gateway as lab_gateway
from tai_labs.lab.runtime import Lab, open_lab
from tai_labs.providers import gateway
from tai_labs.providers.gateway_shell import NODE_NAME


@dataclass(frozen=True)
class Opened:
    """A candidate's open account: their login and, per gateway name, scenario and node."""

    login: str
    labs: tuple[str, ...]
    nodes: dict[str, tuple[str, str]]


def gateway_names(nodes: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
    """Per scenario (in épreuve order), node -> the name the candidate types at the gateway:
    the node's own name, or ``NAME-K`` (K: the scenario's position) when two scenarios have
    a node of that name."""
    counts = Counter(n for names in nodes.values() for n in names)
    out: dict[str, dict[str, str]] = {}
    for position, (scenario, names) in enumerate(nodes.items(), 1):
        out[scenario] = {}
        for node in names:
            name = node if counts[node] == 1 else f"{node}-{position}"
            if not NODE_NAME.fullmatch(name):
                raise TaiLabsError(
                    f"node {node} of {scenario} has no gateway name ({name!r} is too long)",
                    hint="node names shared by two scenarios of an épreuve: 12 characters at most",
                )
            out[scenario][node] = name
    return out


def _chosen(session: Session, login: str | None) -> list[Candidate]:
    return [session.candidate(login)] if login else list(session.candidates)


def _candidate_labs(exams: ExamStore, session: Session, login: str) -> dict[str, str]:
    """scenario -> lab id of the candidate's labs that `session up` chose."""
    links = exams.lab_links(session.name)
    return {sc.id: links[(login, sc.id)] for sc in session.scenarios if (login, sc.id) in links}


def open_access(
    name: str, login: str | None = None, *, exams: ExamStore | None = None
) -> list[Opened]:
    """Open (or refresh) the gateway account of every candidate of the session, or of
    ``login`` only. Checked for all first (every lab ready, a slip printed): if any is not,
    nothing is opened and the error names them all."""
    exams = exams or ExamStore()
    session = exams.get(name)
    chosen = _chosen(session, login)
    problems = []
    plans: list[tuple[Candidate, dict[str, str], str]] = []
    for cand in chosen:
        labs = _candidate_labs(exams, session, cand.login)
        for sc in session.scenarios:
            record = exams.store.find_lab(labs[sc.id]) if sc.id in labs else None
            if record is None or record.status != "ready":
                problems.append(f"{cand.login}: lab of {sc.id} not ready")
        crypt_hash = exams.gateway_hash(name, cand.login)
        if crypt_hash is None:
            problems.append(f"{cand.login}: no slip printed (no password)")
        else:
            plans.append((cand, labs, crypt_hash))
    if problems:
        raise SessionStateError(
            f"session {name}: access cannot open: " + "; ".join(problems),
            hint=f"`tai-labs session up {name}` builds missing labs; `tai-labs session slips "
            f"{name} --candidate LOGIN` prints a missing slip",
        )
    opened = []
    for cand, labs, crypt_hash in plans:
        open_labs = {sc: open_lab(lab_id, exams.store) for sc, lab_id in labs.items()}
        names = gateway_names(
            {sc: [n.name for n in lab.plan.nodes] for sc, lab in open_labs.items()}
        )
        reaches = [lab_gateway.reach(lab, names[sc]) for sc, lab in open_labs.items()]
        gateway.create_for_labs(cand.login, reaches, password_hash=crypt_hash)
        shown = {names[sc][node]: (sc, node) for sc in names for node in names[sc]}
        reachable = {n for r in reaches for n in r.nodes}
        opened.append(
            Opened(
                cand.login,
                tuple(labs.values()),
                {k: v for k, v in shown.items() if k in reachable},
            )
        )
    return opened


def close_access(
    name: str, login: str | None = None, *, exams: ExamStore | None = None
) -> list[str]:
    """Close the gateway account of every candidate of the session, or of ``login`` only:
    running sessions cut, the account and its home gone, the gateway keys taken off the
    nodes. Only an account that reaches this session's labs is touched (a namesake in another
    session is not). Returns the logins closed; none is not an error (already closed)."""
    exams = exams or ExamStore()
    session = exams.get(name)
    by_login = {a.login: a for a in gateway.accounts()}
    closed = []
    for cand in _chosen(session, login):
        labs = _candidate_labs(exams, session, cand.login)
        account = by_login.get(cand.login)
        if account is None or not set(account.labs) & set(labs.values()):
            continue
        for lab_id in labs.values():
            lab = _open(exams, lab_id)
            if lab is not None:
                with contextlib.suppress(TaiLabsError):
                    lab_gateway.revoke(lab)  # the account, and the key off this lab's nodes
        gateway.remove(cand.login)  # if no lab of it could be opened
        closed.append(cand.login)
    return closed


def _open(exams: ExamStore, lab_id: str) -> Lab | None:
    if exams.store.find_lab(lab_id) is None:
        return None
    try:
        return open_lab(lab_id, exams.store)
    except TaiLabsError:
        return None
