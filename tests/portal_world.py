"""The web portal's test world: a temporary state store with an exam session, its candidates,
their labs' records, briefs and secrets (no lab runs). Shared by the unit and browser tests."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path


@dataclass
class PortalWorld:
    """A temporary state store with an exam session (started 10 minutes ago, 2 h long), its
    candidates ``alice`` and ``bruno`` with a lab each (records, nodes, brief, secrets: no
    running lab), an instructor ``formateur``, and the clock the portal reads."""

    data: Path
    session: str
    passwords: dict[str, str]
    labs: dict[str, str]
    instructor: tuple[str, str]
    now: list[float] = field(default_factory=lambda: [time.time()])

    def clock(self) -> float:
        return self.now[0]

    def lab_secrets(self, login: str) -> list[str]:
        """Every secret of ``login``'s lab a candidate must never receive."""
        folder = self.data / "labs" / self.labs[login]
        found = list(json.loads((folder / "secrets.json").read_text()).values())
        key = (folder / "id_ed25519").read_text()
        found += [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
        with sqlite3.connect(self.data / "state.db") as db:
            found += [r[0] for r in db.execute("SELECT password_hash FROM exam_candidates")]
            found += [r[0] for r in db.execute("SELECT password_hash FROM portal_users")]
        found.append((self.data / "portal.key").read_text().strip())
        return [s for s in found if s]


def make_portal_world(data: Path, *, practice: bool = False) -> PortalWorld:
    from tai_labs.exam.credentials import hash_password
    from tai_labs.exam.model import Candidate, Draw, Session, SessionScenario, SessionState
    from tai_labs.exam.store import ExamStore
    from tai_labs.lab.secrets import LabSecrets
    from tai_labs.lab.store import NodeRecord, Store
    from tai_labs.locations import locations
    from tai_labs.portal.accounts import Accounts
    from tai_labs.portal.server import secret_key
    from tai_labs.private_files import write_private

    store = Store(locations(data).store)
    exams = ExamStore(store)
    logins = {"alice": 11, "bruno": 22}
    session = Session(
        name="ccp2-portail",
        block="CCP2",
        practice=practice,
        scenarios=(
            SessionScenario(
                id="compte-verrouille",
                title="Compte verrouillé",
                block="CCP2",
                file="/x/scenario.yaml",
                variants=2,
            ),
        ),
        duration=120,
        start=datetime.now(UTC) - timedelta(minutes=10),
        created=datetime.now(UTC) - timedelta(hours=1),
        draw_key="0" * 32,
        candidates=tuple(
            Candidate(
                login=login,
                nom=login.capitalize(),
                prenom="Test",
                roster_line=i + 2,
                login_derived=False,
                draws=(Draw(scenario="compte-verrouille", seed=seed, variant={}),),
            )
            for i, (login, seed) in enumerate(logins.items())
        ),
    )
    exams.create(session)
    passwords = {"alice": "k7mp-3wqa-9hte", "bruno": "r4nd-om2x-p4ss"}
    exams.set_password_hashes(session.name, {k: hash_password(v) for k, v in passwords.items()})
    exams.set_state(session.name, SessionState.UP)
    exams.set_state(session.name, SessionState.STARTED)
    labs = {"alice": "alab01", "bruno": "blab02"}
    for login, lab_id in labs.items():
        store.add_lab(lab_id, "compte-verrouille", Path("/x/scenario.yaml"), login, logins[login])
        store.set_status(lab_id, "ready")
        for number, (name, kind) in enumerate((("dc1", "samba-dc"), ("pc1", "linux-client"))):
            store.put_node(
                NodeRecord(
                    lab_id,
                    name,
                    f"tl{lab_id}n{number}",
                    kind,
                    "container",
                    number,
                    f"10.250.0.{number + 2}",
                    f"ssh-ed25519 HOSTKEY{lab_id}{number}",
                    True,
                    {"root_password": f"node-secret-{lab_id}-{number}"},
                )
            )
        folder = locations(data).lab(lab_id)
        secrets = LabSecrets(folder)
        admin = secrets.get("admin_password")
        secrets.get("user_password")
        write_private(
            folder / "id_ed25519",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n"
            f"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ{lab_id}AAAAAAAABAAAAMwAAAAt\n"
            "-----END OPENSSH PRIVATE KEY-----\n",
        )
        brief = (
            f"# Compte verrouillé\n\nBonjour {login}, le compte de **Mme Durand** est "
            "verrouillé.\n\n<script>alert('x')</script>\n\n- **pc1** : `tai-labs console "
            f"{lab_id} pc1`\n"
        )
        assert admin not in brief
        write_private(folder / "brief.md", brief)
    Accounts(store).add("formateur", "formateur-mot-de-passe")
    secret_key(data)
    return PortalWorld(data, session.name, passwords, labs, ("formateur", "formateur-mot-de-passe"))
