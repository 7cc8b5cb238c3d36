"""Operators' tools (运维): the compose stack through python-on-whales,
health, dead letters and backups."""
