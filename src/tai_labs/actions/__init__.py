"""Actions: the steps of a scenario's setup and of its reference solutions."""
