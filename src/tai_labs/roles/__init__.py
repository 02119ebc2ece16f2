"""Roles: how a node of each kind is provisioned from the scenario and when it is ready."""
