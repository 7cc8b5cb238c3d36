"""``tooling.login.Login``: the Authorization header as a mapping, signing
in again before expiry, and a TOTP code that someone else used first."""

import pyotp
import pytest

from tooling import login


class Answer:
    def __init__(self, status, body):
        self.status_code, self._body, self.text = status, body, str(body)

    def json(self):
        return self._body


@pytest.fixture
def posted(monkeypatch):
    calls, answers = [], []

    def post(url, json, timeout):
        calls.append(json)
        return answers.pop(0)
    monkeypatch.setattr(login.requests, "post", post)
    return calls, answers


def ok(token, expires_in=900):
    return Answer(200, {"token": token, "expires_in": expires_in,
                        "account": {"username": "admin"}})


def test_the_login_is_the_authorization_header(posted):
    calls, answers = posted
    answers.append(ok("t1"))
    who = login.Login("http://identity", "admin", "p" * 12)
    assert dict(who) == {"Authorization": "Bearer t1"}
    assert dict(who) == {"Authorization": "Bearer t1"}  # kept, not again
    assert calls == [{"username": "admin", "password": "p" * 12}]


def test_it_signs_in_again_before_the_token_expires(posted):
    calls, answers = posted
    answers += [ok("t1", expires_in=60), ok("t2")]
    who = login.Login("http://identity", "admin", "p" * 12)
    assert who["Authorization"] == "Bearer t1"
    assert who["Authorization"] == "Bearer t2"  # 60 s < the 120 s margin
    assert len(calls) == 2


def test_a_used_totp_code_is_followed_by_the_next_steps(posted, monkeypatch):
    calls, answers = posted
    secret = pyotp.random_base32()
    now = [1_000_000_005.0]
    monkeypatch.setattr(login.time, "time", lambda: now[0])
    monkeypatch.setattr(login.time, "sleep",
                        lambda seconds: now.__setitem__(0, now[0] + seconds))
    answers += [Answer(401, {"error": "invalid_credentials"}), ok("t1")]
    who = login.Login("http://identity", "admin", "p" * 12, secret)
    assert who["Authorization"] == "Bearer t1"
    totp = pyotp.TOTP(secret)
    first, second = calls[0]["totp"], calls[1]["totp"]
    assert first == totp.at(1_000_000_005)
    assert second == totp.at(1_000_000_005 + 30) != first


def test_a_refusal_says_who_and_why(posted):
    _, answers = posted
    answers += [Answer(423, {"error": "account_locked"})]
    with pytest.raises(login.LoginError) as refused:
        login.Login("http://identity", "admin", "p" * 12).token
    assert "admin 登录失败: 423" in str(refused.value)
