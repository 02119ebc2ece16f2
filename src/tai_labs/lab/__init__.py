"""A lab: a scenario brought to life for one candidate (plan, state, lifecycle, secrets)."""
