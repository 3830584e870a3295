"""Declared state machines: one transition type and one table type for every workflow of the platform.

A workflow (a licence's status, an application's lifecycle) is a `Table` of `Transition`s. A transition names the
states it leaves from, the state it leads to, the guards that may refuse it and the effects that carry it out. A
transition that is not in the table cannot happen, and `walk` lets a test visit every row of a table.

Guards and effects are called with one argument, the workflow's own context object (the subject, who acts, the
reason, what the effects have prepared so far). A guard refuses by raising a `DomainError`; guards all run before any
effect, so a refused transition changes nothing. Effects run in the order declared, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, ValuesView
from dataclasses import KW_ONLY, dataclass
from typing import Any, Generic, TypeVar

ContextT = TypeVar("ContextT")
TransitionT = TypeVar("TransitionT", bound="Transition[Any]")


@dataclass(frozen=True)
class Transition(Generic[ContextT]):
    """One row of a workflow's table. Workflows needing more columns (who may take it, what it does to a clock)
    subclass it with keyword-only fields."""

    name: str
    sources: frozenset[str]
    target: str
    _: KW_ONLY
    label: Any = ""  # shown to people: a str or a lazily translated string
    guards: tuple[Callable[[ContextT], None], ...] = ()
    effects: tuple[Callable[[ContextT], None], ...] = ()

    def allows_from(self, state: str) -> bool:
        return state in self.sources

    def check(self, context: ContextT) -> None:
        """Run every guard; the first refusal raises."""
        for guard in self.guards:
            guard(context)

    def carry_out(self, context: ContextT) -> None:
        for effect in self.effects:
            effect(context)


class Table(Generic[TransitionT]):
    """The transitions of one workflow by name, in declared order (the order pages list their buttons in). Reads
    like a mapping of names to transitions; `get(name, state)` also answers whether it may be taken from a state."""

    def __init__(self, transitions: Iterable[TransitionT]) -> None:
        self._by_name: dict[str, TransitionT] = {}
        for transition in transitions:
            if transition.name in self._by_name:
                raise ValueError(f"transition {transition.name!r} is declared twice")
            self._by_name[transition.name] = transition

    def __getitem__(self, name: str) -> TransitionT:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def keys(self) -> KeysView[str]:
        return self._by_name.keys()

    def values(self) -> ValuesView[TransitionT]:
        return self._by_name.values()

    def items(self) -> ItemsView[str, TransitionT]:
        return self._by_name.items()

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"Table({list(self._by_name)})"

    def get(self, name: str, state: str | None = None) -> TransitionT | None:
        """The transition `name`, or None if the table has none; given a `state`, only if it may be taken from it."""
        transition = self._by_name.get(name)
        if transition is None or (state is not None and not transition.allows_from(state)):
            return None
        return transition

    def allowed_from(self, state: str) -> list[TransitionT]:
        """The transitions that may be taken from `state`, in declared order."""
        return [t for t in self._by_name.values() if t.allows_from(state)]

    def states(self) -> frozenset[str]:
        """Every state the table mentions."""
        return frozenset({t.target for t in self._by_name.values()}).union(*(t.sources for t in self._by_name.values()))


def walk(table: Table[Any], start: str | Iterable[str]) -> tuple[set[str], list[tuple[str, str, str]]]:
    """Every state reachable from `start` and every (source, transition, target) edge on the way: what a test
    checks against the drawing in the workflow's docstring, so that no row is unreachable or undeclared."""
    frontier = [start] if isinstance(start, str) else list(start)
    seen: set[str] = set(frontier)
    edges: list[tuple[str, str, str]] = []
    while frontier:
        state = frontier.pop(0)
        for transition in table.allowed_from(state):
            edges.append((state, transition.name, transition.target))
            if transition.target not in seen:
                seen.add(transition.target)
                frontier.append(transition.target)
    return seen, edges
