"""A practice session on a real lab: the candidate checks their work, reads hints, resets the
lab; all of it recorded, the hints' cost deducted in the grid and shown in their report."""

from __future__ import annotations

import json
import secrets
import shutil
import tarfile
from pathlib import Path

from labtools import tai

from tai_labs.lab.secrets import SECRETS_FILE
from tai_labs.locations import locations

SCENARIO = "compte-verrouille"
LOGIN = "i14-grid"


def check(name: str) -> dict[str, dict[str, str]]:
    out = tai("session", "check", name, "--candidate", LOGIN, "--json")
    (run,) = json.loads(out.stdout)
    # What the candidate sees of a check: its verdict and message, nothing else.
    assert all(set(c) == {"id", "title", "verdict", "message"} for c in run["checks"])
    return {c["id"]: c for c in run["checks"]}


def test_practice_check_hint_reset_on_a_real_lab(labs: list[str], tmp_path: Path) -> None:
    name = f"i14-grid-{secrets.token_hex(3)}"
    roster = tmp_path / "roster.csv"
    roster.write_text(f"nom;prenom;identifiant\nGrid;Helper;{LOGIN}\n", encoding="utf-8")
    tai("session", "create", name, "-s", SCENARIO, "--roster", str(roster), "--practice")
    try:
        session = json.loads(tai("session", "show", name, "--json").stdout)
        seed = session["candidates"][0]["draws"][0]["seed"]
        info = json.loads(
            tai("up", SCENARIO, "--candidate", LOGIN, "--seed", str(seed), "--json").stdout
        )
        lab = info["id"]
        labs.append(lab)
        shown = json.loads(
            tai("show", SCENARIO, "--candidate", LOGIN, "--seed", str(seed), "--json").stdout
        )
        user = shown["variables"]["user"]["login"]

        got = check(name)
        assert got["unlocked"]["verdict"] == "fail"
        assert got["unlocked"]["message"] == "Le compte est toujours verrouillé."

        tai("exec", lab, "dc1", "--", "samba-tool", "user", "unlock", user)
        got = check(name)
        assert got["unlocked"]["verdict"] == "pass"
        assert got["unlocked"]["message"] == "Le compte n'est plus verrouillé."

        first = json.loads(tai("session", "hint", name, "--candidate", LOGIN, "--json").stdout)
        second = json.loads(tai("session", "hint", name, "--candidate", LOGIN, "--json").stdout)
        assert (first["number"], first["cost"], first["total_cost"]) == (1, 1, 1)
        assert (second["number"], second["of"], second["total_cost"]) == (2, 2, 2)
        assert "samba-tool user show" in second["text"]
        over = tai("session", "hint", name, "--candidate", LOGIN, check=False)
        assert over.returncode == 2 and "no hint left" in over.stderr

        tai("session", "reset", name, "--candidate", LOGIN, timeout=1200)
        assert check(name)["unlocked"]["verdict"] == "fail"  # locked again, as handed out

        grid = json.loads(tai("session", "report", name, "-f", "json").stdout)
        (cell,) = grid["rows"][0]["scenarios"]
        assert cell["state"] == "notée" and cell["hint_cost"] == 2
        assert cell["points"] == max(0, _latest_points(lab) - 2)

        folder = tmp_path / "rapports"
        tai(
            "session",
            "report",
            name,
            "-f",
            "csv",
            "-o",
            str(tmp_path / "g.csv"),
            "--candidates",
            str(folder),
        )
        page = (folder / "candidats" / LOGIN / f"{SCENARIO}.html").read_text(encoding="utf-8")
        assert "Vérifications demandées (3)" in page
        assert "Indices lus (2)" in page and "Remises à zéro du lab (1)" in page
        record = json.loads((folder / "candidats" / LOGIN / "entrainement.json").read_text())
        assert [a["passed"] < a["total"] for a in record["attempts"]] == [True, True, True]

        # The archive a jury keeps: no lab key, no lab secret, 0600.
        archive = tmp_path / "jury.tar.gz"
        tai("session", "export", name, "-o", str(archive))
        assert archive.stat().st_mode & 0o777 == 0o600
        with tarfile.open(archive) as tar:
            blob = b"".join(
                tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            )
        assert f'"lab": "{lab}"'.encode() in blob and b'"evidence"' in blob
        folder_of_lab = locations().lab(lab)
        values = json.loads((folder_of_lab / SECRETS_FILE).read_text()).values()
        keys = []  # the base64 lines of every private key the lab folder holds
        for path in folder_of_lab.rglob("*"):
            data = path.read_bytes() if path.is_file() and path.stat().st_size < 100_000 else b""
            if b"PRIVATE KEY" in data:
                keys += [line for line in data.splitlines() if len(line) > 40]
        assert values and keys  # there is something to leak
        assert b"PRIVATE KEY" not in blob
        assert not [v for v in values if len(v) >= 6 and v.encode() in blob]
        assert not [k for k in keys if k in blob]
    finally:
        for lab in list(labs):
            tai("down", lab, check=False)
            labs.remove(lab)
        tai("session", "rm", name, check=False)
        shutil.rmtree(locations().data / "practice" / name, ignore_errors=True)


def _latest_points(lab: str) -> float:
    grades = sorted((locations().lab(lab) / "grades").glob("*.json"))
    return float(json.loads(grades[-1].read_text())["points"])
