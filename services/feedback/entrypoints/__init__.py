"""Entrypoints of the feedback service, as mixins of ``FeedbackService``:
rating pages and the rating API (``ratings``), rectifications and appeals
(``cases``), the public board, objections and recommendations (``board``),
events from other services (``consumers``). Thin: load with a schema, run
one step in a unit of work, dump; the HTTP safety helpers (rate limits,
CSRF, pages) are in ``web``."""
