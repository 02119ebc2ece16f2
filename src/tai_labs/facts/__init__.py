"""Typed readers of node state: one definition of each fact.

Roles (readiness), faults (``in_place``), graders (``judge``) and actions read the same
things; they read them here. This layer sits above sessions and below everything that
acts on a node: it imports ``tai_labs.sessions``, ``tai_labs.errors`` and the standard
library only.
"""
