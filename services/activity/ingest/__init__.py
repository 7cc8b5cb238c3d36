"""The ingest contract (数据接入): envelopes from other systems over HTTP
(``/api/v1/events``) and AMQP (exchange ``sifuwu.ingest``), each recorded once
by (source, event_id) and applied by the sub-domain its type belongs to."""
