"""The SMS stand-in's inbox (tooling.peers): read page by page after a
cursor, filtered by the request's text, so the story finds the rating links
the recipients' phones got without listing thousands again; and the story
refuses clearly where no stand-in runs (the compose stack)."""

import pytest

from tooling.peers import Recorder
from tooling.story import NO_SMS_STANDIN, Story, StoryError


def sms(n, content):
    return {"path": "/sms", "failed": False,
            "json": {"to": f"1390000{n:04d}", "content": content,
                     "reference": f"m{n}"}}


def test_pages_after_a_cursor_filtered_by_text():
    recorder = Recorder()
    for n in range(7):
        recorder.record(sms(n, f"请点击 http://x/f/tok{n} 评价" if n % 2
                            else "督办通知"))
    assert [item["seq"] for item in recorder.received] == [1, 2, 3, 4, 5, 6, 7]
    page = recorder.page(0, "/f/", limit=2)
    assert [i["json"]["reference"] for i in page["items"]] == ["m1", "m3"]
    rest = recorder.page(page["next"], "/f/", limit=2)
    assert [i["json"]["reference"] for i in rest["items"]] == ["m5"]
    assert rest["next"] == 7
    assert recorder.page(7, "/f/")["items"] == []
    # the recipient's number and the message reference are searchable too
    assert [i["seq"] for i in recorder.page(0, "13900000004")["items"]] == [5]
    assert recorder.page(0, None, limit=100)["next"] == 7


def test_reset_empties_the_inbox():
    recorder = Recorder()
    recorder.record(sms(1, "http://x/f/a"))
    recorder.reset()
    assert recorder.received == [] and recorder.page(0)["items"] == []
    recorder.record(sms(2, "http://x/f/b"))
    assert recorder.received[0]["seq"] == 1


def test_story_without_an_sms_standin_says_it_needs_one():
    story = Story({"notify": "http://127.0.0.1:1"}, sms=[])
    with pytest.raises(StoryError) as raised:
        story.run()
    assert str(raised.value) == NO_SMS_STANDIN
    assert "嵌入式栈" in NO_SMS_STANDIN and "compose" in NO_SMS_STANDIN


def test_the_running_embedded_stack_names_its_sms_standins(tmp_path):
    import json
    import os

    from tooling.stack import sms_controls_for
    (tmp_path / "stack.json").write_text(json.dumps({
        "pids": {"notify": os.getpid()},
        "urls": {"notify": "http://127.0.0.1:8004"},
        "peers": {"sms-b": "http://127.0.0.1:2", "wechat": "http://w",
                  "sms-a": "http://127.0.0.1:1"}}))
    assert sms_controls_for({"notify": "http://127.0.0.1:8004"},
                            base=tmp_path) == ["http://127.0.0.1:1",
                                               "http://127.0.0.1:2"]
    # another stack (e.g. compose) serves these urls: no stand-in known
    assert sms_controls_for({"notify": "http://10.0.0.5:8004"},
                            base=tmp_path) == []
    assert sms_controls_for({"notify": "http://127.0.0.1:8004"},
                            base=tmp_path / "none") == []
