"""The notify service (通知服务): turns what happens in the suite into messages
people receive, and never loses, doubles or leaks one.

Where things are, in the four layers:

* entrypoints: ``service`` (load with ``schemas``, run one step, dump);
* use cases: ``steps`` (plan an event or a batch of invitations, keep the
  contact book and preferences, resend, the operators' reads), each in a
  unit of work; ``delivery`` sends what they stored (``Dispatcher``, the
  sweeper) through the adapters in ``channels/`` (sms, email, wechat, web,
  press), built from ``settings``;
* rules, pure: ``domain`` (states and their allowed moves, retries, outcomes,
  quiet hours, SMS segments, masking, circuit breaker), ``routing`` (event
  type → template → audience → channels), ``planning`` (event → messages and
  recorded skips), ``templating`` + ``templates/`` (versioned zh-CN Jinja2),
  ``contacts`` (the contact-book entry, sealed and masked);
* storage: ``repository`` (``NotifyRepository``, reads and writes only).

Configuration: ``settings.NotifySettings`` (the SMS providers and their
circuit breaker, SMTP, WeChat, the web board, the press folder, quiet hours,
retries); every name with its default is in ``docs/configuration.md``. A
channel without configuration is not attempted: each such delivery is
recorded as a skip (``GET /api/v1/messages/skipped``) with the reason.
"""
