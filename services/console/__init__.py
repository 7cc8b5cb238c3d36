"""The staff console (工作台): the zh-CN pages the people who run the model use
every day. It owns no domain data, only its sessions: it signs people in at
the identity service, keeps their token server-side behind an httpOnly,
SameSite cookie, and reads and writes through the other services' public
HTTP APIs with that token, so every service's own policy applies.

Where things are, in the four layers:

* entrypoints: ``service`` (pages and forms: check the session and the form
  token, call one step or one upstream API, render);
* use cases: ``steps`` (sign in, the current session, sign out);
* rules, pure: ``domain`` (the menu of each role, session expiry, the home
  page's figures from the services' answers);
* storage: ``repository`` (``SessionRepository``); the other services:
  ``upstream`` (HTTP with the user's token).

Configuration: ``settings.ConsoleSettings``.
"""
