"""Signing in at the identity service, for the tooling (the demo story, the
CLI) and the end-to-end tests: ``Login`` holds one account's token, signs in
again before it expires, and is itself the ``Authorization`` header, so it
can be passed as ``headers=`` to requests."""

import collections.abc
import threading
import time

import pyotp
import requests

# sign in again when the token has less than this left (seconds)
REFRESH_MARGIN = 120


class LoginError(RuntimeError):
    pass


class Login(collections.abc.Mapping):
    """One account's access token, fresh on every use.

    A TOTP code is accepted once, so a second sign-in in the same 30-second
    step waits for the next one."""

    def __init__(self, identity_url, username, password, totp_secret=None,
                 timeout=30):
        self.identity_url = identity_url.rstrip("/")
        self.username = username
        self._password = password
        self._totp = pyotp.TOTP(totp_secret) if totp_secret else None
        self.timeout = timeout
        self._token = None
        self._expires = 0.0
        self._last_step = None
        self._lock = threading.Lock()
        self.account = None

    def __repr__(self):
        return f"Login({self.username!r} at {self.identity_url})"

    def _code(self):
        step = int(time.time() // self._totp.interval)
        if step == self._last_step:
            time.sleep((step + 1) * self._totp.interval - time.time() + 0.05)
            step += 1
        self._last_step = step
        return self._totp.at(step * self._totp.interval)

    def _post(self):
        body = {"username": self.username, "password": self._password}
        if self._totp is not None:
            body["totp"] = self._code()
        return requests.post(self.identity_url + "/api/v1/login", json=body,
                             timeout=self.timeout)

    def sign_in(self):
        response = self._post()
        if response.status_code == 401 and self._totp is not None:
            # someone else (a person, another process) used this step's
            # code: the next step's is fresh
            self._last_step = int(time.time() // self._totp.interval)
            response = self._post()
        if response.status_code != 200:
            raise LoginError(f"{self.username} 登录失败: "
                             f"{response.status_code} {response.text[:200]}")
        answer = response.json()
        self._token = answer["token"]
        self._expires = time.monotonic() + float(answer["expires_in"])
        self.account = answer.get("account")
        return self._token

    @property
    def token(self):
        with self._lock:
            if self._token is None or \
                    self._expires - time.monotonic() < REFRESH_MARGIN:
                self.sign_in()
            return self._token

    # the Authorization header, as a mapping
    def __getitem__(self, key):
        if key != "Authorization":
            raise KeyError(key)
        return f"Bearer {self.token}"

    def __iter__(self):
        return iter(("Authorization",))

    def __len__(self):
        return 1


def parse_bootstrap(value):
    """``name:password:TOTP secret`` → (name, password, secret)."""
    name, _, rest = value.strip().partition(":")
    password, _, secret = rest.rpartition(":")
    return name, password, secret


def create_account(admin, identity_url, username, role, password, *,
                   unit_id=None, branch_id=None, timeout=30):
    """Make an account (工委 ``admin`` signs the request) unless one of that
    name exists; returns (account, TOTP secret or None)."""
    body = {"username": username, "password": password, "role": role}
    if unit_id:
        body["unit_id"] = unit_id
    if branch_id:
        body["branch_id"] = branch_id
    url = identity_url.rstrip("/") + "/api/v1/accounts"
    response = requests.post(url, json=body, headers=admin, timeout=timeout)
    if response.status_code == 201:
        answer = response.json()
        return answer["account"], (answer.get("totp") or {}).get("secret")
    if response.status_code == 409:
        raise LoginError(f"账户 {username} 已存在")
    raise LoginError(f"创建账户 {username} 失败: {response.status_code} "
                     f"{response.text[:200]}")
