"""The domain's password and lockout settings, as ``samba-tool`` shows them."""

from __future__ import annotations

from dataclasses import dataclass

from tai_labs.facts.directory.ldb import Runner


@dataclass(frozen=True)
class PasswordPolicy:
    """The domain's password and lockout settings (``samba-tool domain passwordsettings``)."""

    settings: dict[str, str]

    def _int(self, key: str) -> int:
        value = self.settings.get(key, "")
        return int(value) if value.lstrip("-").isdigit() else 0

    @property
    def lockout_threshold(self) -> int:
        """Failed logons before a lockout; 0 never locks (Samba's provisioned default)."""
        return self._int("Account lockout threshold (attempts)")

    @property
    def lockout_duration(self) -> int:
        """Minutes a lockout lasts; 0 until an administrator unlocks the account."""
        return self._int("Account lockout duration (mins)")

    @classmethod
    def parse(cls, text: str) -> PasswordPolicy:
        out = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
        return cls(out)


def password_policy(node: Runner) -> PasswordPolicy:
    return PasswordPolicy.parse(
        node.run(["samba-tool", "domain", "passwordsettings", "show"]).stdout
    )
