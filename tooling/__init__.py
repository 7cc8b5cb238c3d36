"""Tooling (工具): what operators and developers run, never imported by a service.

The embedded stack launcher, the ``sifuwu`` command, the demo story and its city,
the report, the compose file checks, operators' tools (dead letters, backups,
health) and the local SMS/SMTP/WeChat stand-ins the embedded stack starts.
"""
