"""Faults: named, idempotent breakages injected into a lab for the candidate to find."""
