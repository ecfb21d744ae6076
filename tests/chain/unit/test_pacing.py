"""``TextPacer``: how a streamed answer's tokens are grouped into server-sent events (times given, so exact)."""

import pytest

from hag_chain.server.pacing import TextPacer


def test_the_first_text_goes_out_at_once_and_later_ones_once_the_interval_has_passed():
    pacer = TextPacer(0.05)
    assert pacer.add("Once", now=10.0) == "Once"
    assert pacer.add(" upon", now=10.02) is None
    assert pacer.add(" a", now=10.049) is None
    assert pacer.add(" time", now=10.05) == " upon a time"  # held text goes out with the token that ends the wait
    assert pacer.add(",", now=10.06) is None
    assert pacer.flush() == ","  # the end of the answer sends what is held
    assert pacer.flush() == ""


def test_a_slow_model_s_tokens_go_out_one_by_one():
    pacer = TextPacer(0.05)
    assert [pacer.add(t, now=i * 0.5) for i, t in enumerate(["a", "b", "c"])] == ["a", "b", "c"]


def test_interval_zero_sends_every_text_as_it_comes():
    pacer = TextPacer(0)
    assert [pacer.add(t, now=1.0) for t in ["a", "b", "c"]] == ["a", "b", "c"]


def test_a_negative_interval_is_refused():
    with pytest.raises(ValueError, match="0 or more seconds"):
        TextPacer(-0.1)
