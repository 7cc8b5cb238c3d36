"""API clients of outside systems (接入客户端): who may send which sources'
and types' events to the ingest contract, with keys shown once, stored
hashed, rotated with an overlap and revoked at once."""
