"""Per-lab secrets (domain Administrator password, users' passwords, device passwords).

Generated the first time they are asked for, then read back, so a resumed `up` gets the same
ones. The file is created with mode 0600 before anything is written to it: a secret is
never readable by other users, not even for an instant.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(values, fh, indent=2)
        os.chmod(tmp, 0o600)  # in case the file existed with another mode
        os.replace(tmp, self.path)

    def get(self, name: str, length: int = 16) -> str:
        """The secret called ``name``, generated on first use."""
        values = self._read()
        if name not in values:
            values[name] = random_secret(length)
            self._write(values)
        return values[name]

    def all(self) -> dict[str, str]:
        return self._read()
