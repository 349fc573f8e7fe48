"""Build hooks: the package carries the templates, their release history and the collector.

pyproject.toml holds the metadata; this file only adds two steps to the build:

- wheel (`build_py`): copy `templates/` into the package as `scaffold/_templates/`, and write
  `scaffold/_templates.bundle`, the git history of the templates at every release tag, built
  from this checkout's tags (or taken from the sdist, which has no `.git`); copy `collector/`
  (the manifest and build script `scaffold dev` builds its collector with) as
  `scaffold/_collector/`;
- sdist: ship `templates/` and `collector/` (MANIFEST.in) and the same bundle, so a wheel built
  from the sdist (`python -m build` does exactly that) carries the same history.

An editable install (`pip install -e .`) copies nothing: it renders the working tree's
`templates/`, and versions it at run time (see scaffold/bundled.py); `scaffold dev` builds from
the working tree's `collector/`.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import types
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
TEMPLATES = ROOT / "templates"
COLLECTOR = ROOT / "collector"
BUNDLE = "_templates.bundle"
SHIPPED_BUNDLE = ROOT / "scaffold" / BUNDLE  # present only in an unpacked sdist
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def write_history(out: Path) -> None:
    """Write the templates' release history to `out` (nothing when there is none)."""
    if (ROOT / ".git").exists():
        _build_history()(ROOT, out)
    elif SHIPPED_BUNDLE.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHIPPED_BUNDLE, out)
    else:
        out.unlink(missing_ok=True)


def _build_history() -> Any:
    """`scaffold.bundled.build_history`, without importing the package (or its dependencies).

    scaffold/__init__.py imports copier and more on use, which a build environment does not have;
    bundled.py needs only scaffold/errors.py, scaffold/_git.py and the standard library. A
    stand-in `scaffold` package that is just the source directory lets them load, and is removed
    afterwards.
    """
    own = [name for name in sys.modules if name == "scaffold" or name.startswith("scaffold.")]
    saved = {name: sys.modules.pop(name) for name in own}
    stub = types.ModuleType("scaffold")
    stub.__path__ = [str(ROOT / "scaffold")]
    sys.modules["scaffold"] = stub
    try:
        return importlib.import_module("scaffold.bundled").build_history
    finally:
        for name in [n for n in sys.modules if n == "scaffold" or n.startswith("scaffold.")]:
            del sys.modules[name]
        sys.modules.update(saved)


class BuildPy(build_py):
    """build_py, plus the template tree and its history inside the package."""

    def run(self) -> None:
        """Build the package, then add `_templates/`, `_templates.bundle` and `_collector/`."""
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "scaffold"
        copy = package / "_templates"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(TEMPLATES, copy, ignore=IGNORED)
        write_history(package / BUNDLE)
        collector = package / "_collector"
        shutil.rmtree(collector, ignore_errors=True)
        shutil.copytree(COLLECTOR, collector, ignore=IGNORED)


class Sdist(sdist):
    """sdist, plus the history (an sdist has no .git to build it from later)."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        """Lay out the sdist's files, then add `scaffold/_templates.bundle`."""
        super().make_release_tree(base_dir, files)
        write_history(Path(base_dir) / "scaffold" / BUNDLE)


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
