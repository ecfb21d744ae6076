import pytest

from hag_chain.chat.tools import parse_tool_calls

pytestmark = pytest.mark.unit

CALL = '{"name": "get_weather", "arguments": {"location": "San Francisco, CA"}}'


def test_tagged_calls_are_split_from_the_text():
    content, calls, invalid = parse_tool_calls(f"Let me check.<tool_call>{CALL}</tool_call>", ["get_weather"])
    assert content == "Let me check." and [c["args"] for c in calls] == [{"location": "San Francisco, CA"}]
    assert invalid == []


@pytest.mark.parametrize("reply", [CALL, f"  {CALL}\n", f"```json\n{CALL}\n```"])
def test_a_reply_that_is_only_a_known_tools_call_is_a_call(reply):
    content, calls, invalid = parse_tool_calls(reply, ["get_weather"])
    assert content == "" and calls[0]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    assert calls[0]["args"] == {"location": "San Francisco, CA"} and invalid == []


@pytest.mark.parametrize(
    "reply",
    [
        CALL,  # no such tool
        '{"name": "get_weather", "arguments": {"location": "SF"}, "reason": "x"}',  # more than a call
        '{"name": "get_weather", "arguments": "SF"}',  # arguments not an object
        f"The call would be {CALL}",  # prose around it
        '{"setup": "Why?", "punchline": "Because."}',  # a JSON answer
    ],
)
def test_other_replies_stay_text(reply):
    names = ["search"] if reply == CALL else ["get_weather"]
    assert parse_tool_calls(reply, names) == (reply, [], [])
