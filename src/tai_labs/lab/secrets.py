"""Per-lab secrets (domain Administrator password, users' passwords, device passwords).

Generated the first time they are asked for, then read back, so a resumed `up` gets the same
ones. The file is created with mode 0600 before anything is written to it: a secret is
never readable by other users, not even for an instant.
"""

from __future__ import annotations

import json
from pathlib import Path

from tai_labs.private_files import write_private
from tai_labs.scenario.variables import random_secret

SECRETS_FILE = "secrets.json"


class LabSecrets:
    def __init__(self, folder: Path) -> None:
        self.path = folder / SECRETS_FILE

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return dict(json.loads(self.path.read_text(encoding="utf-8")))

    def _write(self, values: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.path, json.dumps(values, indent=2))

    def get(self, name: str, length: int = 16) -> str:
        """The secret called ``name``, generated on first use."""
        values = self._read()
        if name not in values:
            values[name] = random_secret(length)
            self._write(values)
        return values[name]

    def all(self) -> dict[str, str]:
        return self._read()
