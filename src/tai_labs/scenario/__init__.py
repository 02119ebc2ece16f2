"""Scenario files: load, expand, validate and describe them."""
