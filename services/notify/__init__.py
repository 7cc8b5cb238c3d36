"""The notify service (通知服务): turns what happens in the suite into messages
people receive, and never loses, doubles or leaks one.

Modules: ``routing`` (event type → template → audience → channels),
``templating`` + ``templates/`` (versioned zh-CN Jinja2), ``planning`` (event →
messages and recorded skips), ``domain`` (states, retries, quiet hours, SMS
segments, circuit breaker), ``channels`` (the adapters), ``delivery`` (send +
sweeper), ``repository``, ``schemas``, ``service`` (entrypoints), ``peers``
(local SMTP/HTTP peers for tests and the embedded stack).

Configuration (environment or nameko config):

=============================  ==============================================
``SIFUWU_SMS_PROVIDERS``       ``name=url,name=url`` in failover order; empty:
                               the delivery log is the gateway (embedded)
``SIFUWU_SMS_BREAKER_*``       ``THRESHOLD`` (3 failures) / ``COOLDOWN`` (60 s)
``SIFUWU_SMTP_HOST/PORT/FROM`` the SMTP server; empty host: no email
``SIFUWU_WECHAT_URL``          WeChat template-message API; empty: no WeChat
``SIFUWU_WEB_BOARD_URL``       optional POST target for board items (always
                               also served at ``GET /api/v1/board-items``),
                               ``SIFUWU_WEB_BOARD_TOKEN`` its bearer token
``SIFUWU_PRESS_DIR``           folder for DOCX manuscripts; empty: no press
``SIFUWU_QUIET_HOURS``         ``22-8`` (Asia/Shanghai) or ``off``
``SIFUWU_NOTIFY_RETRY_BASE``   first retry delay, s (30), doubling, capped by
``SIFUWU_NOTIFY_RETRY_CAP``    (3600); ``SIFUWU_NOTIFY_MAX_ATTEMPTS`` (6)
=============================  ==============================================

A channel without configuration is not attempted: each such delivery is
recorded as a skip (``GET /api/v1/messages/skipped``) with the reason.
"""
