"""Every workflow is one `kernel.transitions.Table`, and a walk of each whole table matches its drawing: every state
reachable from the start, every row taken, the final states without a way out. (The hall's and the licences' own
tests take every row through their services.)"""

from __future__ import annotations

import pytest

from rongcheng.hall import workflow
from rongcheng.hall.models import State
from rongcheng.kernel.transitions import Table, Transition, walk
from rongcheng.licences import lifecycle
from rongcheng.licences.models import LicenceStatus


def test_the_hall_table_walked_from_draft():
    states, edges = walk(workflow.TRANSITIONS, State.DRAFT.value)
    assert states == {s.value for s in State}
    assert {name for _, name, _ in edges} == set(workflow.TRANSITIONS)
    assert sorted(edges) == sorted(
        (source, t.name, t.target) for t in workflow.TRANSITIONS.values() for source in t.sources
    )
    for final in workflow.FINAL:
        assert workflow.TRANSITIONS.allowed_from(final) == []


def test_every_hall_row_writes_the_state_exactly_once_after_its_preparations():
    for transition in workflow.TRANSITIONS.values():
        effects = list(transition.effects)
        assert effects.count(workflow.state_written) == 1, transition.name
        clock = workflow.CLOCK_EFFECTS[transition.clock]
        written = effects.index(workflow.state_written)
        assert all(effects.index(effect) < written for effect in clock), transition.name
        assert all(guard not in effects for guard in transition.guards), transition.name


def test_the_licence_table_walked_from_valid():
    states, edges = walk(lifecycle.TRANSITIONS, LicenceStatus.VALID.value)
    assert states == {s.value for s in LicenceStatus}
    assert {name for _, name, _ in edges} == set(lifecycle.TRANSITIONS)
    for final in lifecycle.FINAL_STATES:
        assert lifecycle.TRANSITIONS.allowed_from(final) == []


def test_table_lookups():
    table: Table[Transition[None]] = Table(
        (Transition("open", frozenset({"closed"}), "opened"), Transition("close", frozenset({"opened"}), "closed"))
    )
    assert list(table) == ["open", "close"]
    assert "open" in table
    assert "shut" not in table
    assert table.get("open") is table["open"]
    assert table.get("open", "closed") is table["open"]
    assert table.get("open", "opened") is None
    assert table.get("shut") is None
    assert table.allowed_from("opened") == [table["close"]]
    assert table.states() == {"opened", "closed"}
    with pytest.raises(ValueError, match="declared twice"):
        Table((table["open"], table["open"]))


def test_guards_refuse_before_any_effect():
    done: list[str] = []

    def refuse(context: list[str]) -> None:
        raise RuntimeError("refused")

    transition: Transition[list[str]] = Transition(
        "go", frozenset({"a"}), "b", guards=(refuse,), effects=(lambda c: c.append("effect"),)
    )
    with pytest.raises(RuntimeError):
        transition.check(done)
    assert done == []
    both: Transition[list[str]] = Transition(
        "go", frozenset({"a"}), "b", effects=(lambda c: c.append("one"), lambda c: c.append("two"))
    )
    both.carry_out(done)
    assert done == ["one", "two"]


def test_the_sharing_table_walked_from_new():
    from rongcheng.catalogue import sharing
    from rongcheng.catalogue.models import SharingState

    states, edges = walk(sharing.TRANSITIONS, SharingState.NEW.value)
    assert states == {s.value for s in SharingState}
    assert sorted(edges) == sorted(
        (source, t.name, t.target) for t in sharing.TRANSITIONS.values() for source in t.sources
    )
    for final in (SharingState.CLOSED, SharingState.WITHDRAWN, SharingState.REVOKED):
        assert sharing.TRANSITIONS.allowed_from(final) == []
