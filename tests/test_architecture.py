"""The import contracts in pyproject.toml bite: each one, fed a copy of the code with one violation of its rule,
fails; the unmodified copy passes. A contract that only ever passes proves nothing (issue 11: five deliberate
violations once went through a single linear ladder)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "rongcheng"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
CONTRACTS = {contract["id"]: contract for contract in CONFIG["contracts"] if "id" in contract}

# (contract id, file under src/rongcheng, line appended, the import the report must name)
VIOLATIONS = [
    # peers and tiers: a lower app importing a higher one, and two peers importing each other
    ("tiers", "divisions/selectors.py", "import rongcheng.staff.models", "rongcheng.divisions.selectors"),
    ("tiers", "identity/selectors.py", "import rongcheng.oidc.selectors", "rongcheng.identity.selectors"),
    # a service importing its own app's API module
    ("inside-apps", "staff/services.py", "import rongcheng.staff.api", "rongcheng.staff.services"),
    # a service importing ninja; a selector importing Django's forms
    ("no-web-below-adapters", "licences/services.py", "import ninja", "rongcheng.licences.services -> ninja"),
    (
        "no-web-below-adapters",
        "registries/selectors.py",
        "from django import forms",
        "rongcheng.registries.selectors -> django.forms",
    ),
    # the identity session services taking the request again (they take Django's session store)
    (
        "no-web-below-adapters",
        "identity/services/sessions.py",
        "from django.http import HttpRequest",
        "rongcheng.identity.services.sessions -> django.http",
    ),
    # the hall reaching into private modules of lower apps
    (
        "private-licences",
        "hall/services/applying.py",
        "from rongcheng.licences import keys",
        "rongcheng.hall.services.applying -> rongcheng.licences.keys",
    ),
    (
        "private-registries",
        "hall/services/deciding.py",
        "import rongcheng.registries.importing",
        "rongcheng.hall.services.deciding -> rongcheng.registries.importing",
    ),
    # an app above the hall reaching past the hall's services package into one of its modules
    (
        "private-hall",
        "credit/services.py",
        "import rongcheng.hall.services.deciding",
        "rongcheng.credit.services -> rongcheng.hall.services.deciding",
    ),
    (
        "private-registries",
        "licences/selectors.py",
        "from rongcheng.registries.protection import reveal",
        "rongcheng.licences.selectors -> rongcheng.registries.protection",
    ),
    ("private-accounts", "registries/services.py", "import rongcheng.accounts.api_auth", "rongcheng.accounts.api_auth"),
    ("audit-sink", "audit/services.py", "import rongcheng.accounts.models", "rongcheng.audit.services"),
    ("composition-root", "portal/views.py", "from rongcheng.config import urls", "rongcheng.portal.views"),
]


def _copy(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(
        PACKAGE,
        source / "rongcheng",
        ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "locale", "*.mo", "*.po"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return source


def _lint(tmp_path: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "COLUMNS": "300", "NO_COLOR": "1"}
    selection = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *selection, str(tmp_path / "pyproject.toml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_violation_names_a_declared_contract() -> None:
    assert {contract for contract, *_ in VIOLATIONS} <= set(CONTRACTS)
    # every contract but the per-app surfaces not exercised here is exercised
    exercised = {contract for contract, *_ in VIOLATIONS}
    assert {"tiers", "inside-apps", "no-web-below-adapters", "audit-sink", "composition-root"} <= exercised


def test_the_unmodified_copy_keeps_every_contract(tmp_path: Path) -> None:
    _copy(tmp_path)
    result = _lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("contract", "path", "line", "named"), VIOLATIONS, ids=[f"{v[0]}:{v[1]}" for v in VIOLATIONS])
def test_each_contract_fails_on_a_violation_of_its_rule(
    tmp_path: Path, contract: str, path: str, line: str, named: str
) -> None:
    source = _copy(tmp_path)
    target = source / "rongcheng" / path
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # injected violation\n", encoding="utf-8")
    result = _lint(tmp_path, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 1 broken." in result.stdout
    assert named in result.stdout, result.stdout


def test_every_module_of_an_app_is_public_or_declared_private() -> None:
    """A new module in an app is either part of its public surface or listed in its `private-<app>` contract, so the
    surface cannot widen silently."""
    public = {"__init__", "apps", "services", "selectors", "models", "errors", "permissions", "events"}
    not_modules = {"migrations", "tests", "templates", "static", "__pycache__"}
    for app in _apps():
        if app == "kernel":  # the shared kernel is public to every app
            continue
        contract = CONTRACTS[f"private-{app}"]
        declared = {module.removeprefix(f"rongcheng.{app}.") for module in contract["protected_modules"]}
        present = {
            entry.name.removesuffix(".py")
            for entry in (PACKAGE / app).iterdir()
            if entry.name not in not_modules and (entry.suffix == ".py" or (entry / "__init__.py").exists())
        }
        assert present - public == {module for module in declared if "." not in module}, app
        for module in declared - present:  # a module inside a package (the hall's services), declared by its path
            path = PACKAGE / app / module.replace(".", "/")
            assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), f"{app}: no module {module}"


def _apps() -> list[str]:
    from django.conf import settings

    return [name.split(".")[1] for name in settings.INSTALLED_APPS if re.fullmatch(r"rongcheng\.\w+", name)]


def test_every_app_sits_in_a_tier_and_in_the_architecture_document() -> None:
    tiers = CONTRACTS["tiers"]["layers"]
    placed = {module.strip().removeprefix("rongcheng.") for tier in tiers for module in tier.split("|")}
    inside = {module.removeprefix("rongcheng.") for module in CONTRACTS["inside-apps"]["containers"]}
    document = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for app in _apps():
        assert app in placed, f"{app} is in no tier of the `tiers` contract"
        if app != "kernel":
            assert app in inside, f"{app} is not a container of the `inside-apps` contract"
            assert f"private-{app}" in CONTRACTS, f"{app} has no `private-{app}` contract"
        assert f"**{app}**" in document, f"docs/architecture.md has no paragraph on {app}"


def test_every_app_is_wired_into_the_composition_root():
    urls = (PACKAGE / "config" / "urls.py").read_text(encoding="utf-8")
    api = (PACKAGE / "config" / "api.py").read_text(encoding="utf-8")
    for app in _apps():
        if (PACKAGE / app / "urls.py").exists():
            assert f'include("rongcheng.{app}.urls")' in urls, f"config/urls.py does not include {app}'s pages"
        if (PACKAGE / app / "api.py").exists():
            assert f"from rongcheng.{app}.api import router" in api, f"config/api.py does not add {app}'s router"


ADR_HEAD = re.compile(r"# \d{4} .+\n\nDate: \d{4}-\d{2}-\d{2}\nStatus: (Proposed|Accepted|Superseded by \d{4})\n")
CITED_PATH = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.(?:py|md|toml|json|txt))\b")
SOURCES = ("src", "docs", "bench", "tests", "scripts")


def _exists(cited: str) -> bool:
    if "/" in cited:
        return any((base / cited).exists() for base in (ROOT, ROOT / "src" / "rongcheng", ROOT / "docs"))
    return (ROOT / cited).exists() or any(next((ROOT / d).rglob(cited), None) for d in SOURCES)


@pytest.mark.parametrize("adr", sorted((ROOT / "docs" / "adr").glob("*.md")), ids=lambda path: path.stem)
def test_each_decision_record_has_a_date_a_status_and_cites_only_files_that_exist(adr: Path) -> None:
    text = adr.read_text(encoding="utf-8")
    assert ADR_HEAD.match(text), "an ADR starts with its title, then Date: and Status: lines"
    for cited in CITED_PATH.findall(text):
        assert _exists(cited), f"{adr.name} cites {cited}, which is not in the repository"
