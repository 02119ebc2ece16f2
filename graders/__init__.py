"""The project's check modules, one family per module.

Each module registers its checks on import; the project's ``pyproject.toml`` declares every
module under the ``tai_labs.checks`` entry-point group, as an instructor's own package does
for its checks. Modules whose name starts with ``_`` are shared helpers, not check modules.

The Linux modules (``linux_*.py``), the probes and the records share one way of working:
each ``collect`` records its commands under names (``parsers.run``) and each ``judge`` reads
them back (``parsers.output``): a judge is a pure function of that evidence. Output it cannot
read, or a command that did not run, is ``error``; ``fail`` needs the evidence of a wrong state.
"""
