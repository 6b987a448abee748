"""The code a benchmark runs: one commit's tree, exported with `git archive` into a temporary
directory, so edits others make to the working tree meanwhile cannot change a running server
(the repository and the working tree are left as they are). `.` runs the working tree itself.

A server or CLI started with its working directory there imports `app` from there (the current
directory comes before the editable install on `sys.path`).
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export(ref: str, into: Path) -> tuple[Path, str]:
    """(directory to run from, what it is: the short commit hash, or 'working tree')."""
    if ref == ".":
        return ROOT, "working tree " + _git("rev-parse", "--short", "HEAD") + "+edits"
    commit = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    dest = into / f"src-{commit}"
    dest.mkdir(parents=True, exist_ok=True)
    archive = into / f"src-{commit}.tar"
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(archive), commit, "app", "pyproject.toml"],
        cwd=ROOT,
        check=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return dest, commit


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def migrate(url: str, src: Path) -> str:
    """Bring the database to the newest migration of the code in `src`, down as well as up (a
    set migrated by newer code gets the schema the measured code was written for). The
    working tree's migrations do it: they include every older one. Returns the revision."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from app.store.migrate import alembic_config

    head = ScriptDirectory(str(src / "app" / "store" / "alembic")).get_current_head()
    assert head is not None
    cfg = alembic_config(url)
    try:
        command.downgrade(cfg, head)  # nothing to do when the database is at `head` already
    except CommandError:  # the database is older than `head`
        command.upgrade(cfg, head)
    return head
