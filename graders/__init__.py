"""The project's check modules, one family per module.

Each module registers its checks on import; the project's ``pyproject.toml`` declares every
module under the ``tai_labs.checks`` entry-point group, as an instructor's own package does
for its checks. Modules whose name starts with ``_`` are shared helpers, not check modules.
"""
