"""Imports point one way (STYLE.md): `web` asks services, never the store. Only the dependency
provider (web/deps.py: the request's session, the signed-in user) imports app.store; a
controller gets what it shows from a service. Read statically, like test_import_cycles."""

from __future__ import annotations

import ast
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "app" / "web"
PROVIDER = "deps.py"  # the one module of app/web allowed to import app.store

# Still importing app.store directly, each owned by another piece of work for now. Shrink this
# list; never grow it.
NOT_YET = {
    "metrics.py",  # the /metrics figures
    "search.py",  # client search
}


def store_imports(path: Path) -> list[str]:
    """The app.store modules `path` imports, anywhere in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[:2] == ["app", "store"]]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["app", "store"]:
                found.append(node.module)
            elif parts == ["app"]:
                found += ["app.store" for a in node.names if a.name == "store"]
    return found


def test_web_imports_the_store_only_through_the_dependency_provider() -> None:
    offenders = {
        p.name: store_imports(p)
        for p in sorted(WEB.glob("*.py"))
        if p.name != PROVIDER and p.name not in NOT_YET and store_imports(p)
    }
    assert offenders == {}, f"app/web imports app.store outside {PROVIDER}: {offenders}"


def test_the_allow_list_names_only_files_that_still_need_it() -> None:
    """A file that no longer imports the store leaves the list (so it cannot come back)."""
    stale = {n for n in NOT_YET if not (WEB / n).exists() or not store_imports(WEB / n)}
    assert stale == set(), f"remove from NOT_YET: {sorted(stale)}"


def test_the_reader_sees_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import app.store.db\n"
        "from app.store import reads\n"
        "from app import store\n"
        "from app.services import ledger\n"
        "def f():\n    from app.store.models import Payment\n"
    )
    assert store_imports(sample) == ["app.store.db", "app.store", "app.store", "app.store.models"]
