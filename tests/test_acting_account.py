"""The acting account reaches services in one typed form (issue 11, "one request context"): no parameter named
user, actor, account or officer of a services, selectors, permissions or workflow module is annotated `Any` or left
unannotated, and no field of that name of a class there is `Any`. It is `kernel.context.Account` (or
`accounts.models.User` where the function writes by the account, or `Account | Actor` where a platform job acts),
and a predicate that reads what only `User` has narrows first (`accounts.selectors.is_signed_in`).

mypy cannot say this itself: `Any` is a valid annotation. The check reads the source with `ast`, so it holds for
every module whether or not anything imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "rongcheng"
NAMES = frozenset({"user", "actor", "account", "officer"})
KINDS = frozenset({"services", "selectors", "permissions", "workflow"})


def _is_any(annotation: ast.expr) -> bool:
    """Whether the annotation is or contains `Any` (`Any`, `typing.Any`, `Any | None`, `Optional[Any]`, "Any")."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id == "Any":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Any":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                inner = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                continue
            if _is_any(inner):
                return True
    return False


def untyped_accounts(source: str, where: str) -> list[str]:
    """Each parameter named for the acting account that is annotated `Any` or not at all, and each class field of
    that name annotated `Any`, as `where:line name`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                if argument.arg in NAMES and (argument.annotation is None or _is_any(argument.annotation)):
                    found.append(f"{where}:{argument.lineno} {node.name}({argument.arg})")
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                if (
                    isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)
                    and statement.target.id in NAMES
                    and _is_any(statement.annotation)
                ):
                    found.append(f"{where}:{statement.lineno} {node.name}.{statement.target.id}")
    return found


def checked_modules(package: Path) -> Iterator[tuple[str, Path]]:
    """(app, path) of every services, selectors, permissions or workflow module of an app, as a file of that name or
    a module of a package of that name; tests and migrations aside."""
    for path in sorted(package.glob("*/**/*.py")):
        parts = path.relative_to(package).parts
        if "tests" in parts or "migrations" in parts:
            continue
        if any(part.removesuffix(".py") in KINDS for part in parts[1:]):
            yield parts[0], path


def violations(package: Path) -> dict[str, list[str]]:
    """The untyped acting-account parameters by app."""
    by_app: dict[str, list[str]] = {}
    for app, path in checked_modules(package):
        found = untyped_accounts(path.read_text(encoding="utf-8"), str(path.relative_to(package)))
        if found:
            by_app.setdefault(app, []).extend(found)
    return by_app


def test_no_service_selector_predicate_or_workflow_takes_the_acting_account_as_any() -> None:
    found = violations(PACKAGE)
    assert not found, f"type these as kernel.context.Account (or accounts.models.User): {found}"


VIOLATING = """
from typing import Any
import typing

def case_take(*, user: Any, number: str) -> None: ...
def may_view(user, case) -> bool: ...
async def fetch(account: typing.Any) -> None: ...
def decide(officer: "Any | None" = None) -> None: ...
def audit(action: str, actor: Any | None) -> None: ...

class Step:
    user: Any
    reason: str

    def run(self, user: Any) -> None: ...
"""

CLEAN = """
from typing import Any
from rongcheng.accounts.models import User
from rongcheng.audit.services import Actor
from rongcheng.kernel.context import Account

def case_take(*, user: Account, number: str, detail: dict[str, Any]) -> None: ...
def may_view(user: Account | None, case: Any) -> bool: ...
def write(*, actor: User | Actor, data: Any) -> None: ...
def visitor(user_agent: Any, caller: Any) -> None: ...

class Step:
    user: Account | None
    changes: dict[str, Any]
"""


def test_the_check_bites_on_any_and_missing_annotations() -> None:
    assert untyped_accounts(VIOLATING, "x.py") == [
        "x.py:5 case_take(user)",
        "x.py:6 may_view(user)",
        "x.py:7 fetch(account)",
        "x.py:8 decide(officer)",
        "x.py:9 audit(actor)",
        "x.py:12 Step.user",
        "x.py:15 run(user)",
    ]
    assert untyped_accounts(CLEAN, "x.py") == []


@pytest.mark.parametrize("module", ["services.py", "selectors.py", "permissions.py", "workflow.py", "services/x.py"])
def test_the_check_finds_a_violation_in_each_kind_of_module(tmp_path: Path, module: str) -> None:
    (tmp_path / "fake" / module).parent.mkdir(parents=True)
    (tmp_path / "fake" / module).write_text(VIOLATING, encoding="utf-8")
    (tmp_path / "fake" / "views.py").write_text(VIOLATING, encoding="utf-8")  # adapters are not checked here
    (tmp_path / "fake" / "tests").mkdir()
    (tmp_path / "fake" / "tests" / "test_services.py").write_text(VIOLATING, encoding="utf-8")
    found = violations(tmp_path)
    assert list(found) == ["fake"]
    assert len(found["fake"]) == 7
    assert all(line.startswith(f"fake/{module}:") for line in found["fake"])
