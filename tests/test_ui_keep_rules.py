"""The keep rules the Rules screen edits: every change marks them unsaved, saving clears it,
and what the config or a command line gives is taken as it is meant (unknown names dropped)."""

from __future__ import annotations

import pytest

from lookalike.engine.options import DEFAULT_KEEP_RULES
from lookalike.ui.keep_rules import KeepRules


def test_each_change_marks_unsaved_and_saving_clears_it() -> None:
    k = KeepRules(["resolution", "bytes"])
    assert not k.dirty
    assert k.move(0, 1) and k.rules == ["bytes", "resolution"] and k.dirty
    k.saved()
    assert not k.move(1, 1) and not k.dirty  # out of range: nothing changes
    k.add("oldest")
    assert k.rules[-1] == "oldest" and k.dirty
    k.saved()
    k.add("oldest")  # already there
    assert not k.dirty and k.rules.count("oldest") == 1
    with pytest.raises(ValueError, match="Unknown rule 'biggest-smile'"):
        k.add("biggest-smile")
    assert k.remove(0) and k.rules == ["resolution", "oldest"]
    k.add_reference("/ref/a")
    k.add_reference("/ref/b")
    assert k.drop_reference() and k.reference == ["/ref/a"]
    k.set_override("/photos/phone", ["newest", "bytes"])
    with pytest.raises(ValueError, match="nope"):
        k.set_override("/x", ["newest", "nope"])
    assert "/x" not in k.overrides
    rules, refs, over = k.snapshot()
    over["/photos/phone"].append("oldest")  # a saving thread's copy is its own
    assert k.overrides == {"/photos/phone": ["newest", "bytes"]}
    assert k.drop_override() and not k.overrides and not k.drop_override()


def test_the_last_rule_is_never_removed() -> None:
    k = KeepRules(["bytes"])
    assert not k.remove(0) and k.rules == ["bytes"] and not k.dirty


def test_from_settings_drops_what_it_cannot_use() -> None:
    k = KeepRules.from_settings(["nope", "oldest"], ["/r"], {"/a": ["bytes"], "/b": "bytes"})
    assert k.rules == ["oldest"] and k.reference == ["/r"] and k.overrides == {"/a": ["bytes"]}
    assert KeepRules.from_settings(["nope"], None, None).rules == list(DEFAULT_KEEP_RULES)
    assert not k.dirty
