"""The directory (组织架构与服务对象): units, divisions, branches, members and
recipients, kept from the ingest contract."""
