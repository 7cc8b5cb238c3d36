"""Business indicators (业务指标) of a member or a unit in a month, from the
ingest contract."""
