"""Grading: checks that collect facts from a lab and judge them against the referential."""
