"""`scaffold template init`: start an organisation's own template repository.

A template source that services can be updated from is a git repository whose tags are versions
(PEP 440, as copier reads them). This module makes one from the bundled template set: the same
copier.yml, policy.yml, go/ and rust/, committed once and tagged with a first version, so the
platform team can edit the policy, tag a release and roll it out with `scaffold update`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

from scaffold import _git
from scaffold._defaults import DEFAULT_VERSION
from scaffold._git import GitFailed
from scaffold._signals import deferred
from scaffold.errors import DestinationError, GitError, TemplateError
from scaffold.render import commit_all, identity_env
from scaffold.source import bundled_templates, version_tag

__all__ = ["DEFAULT_VERSION", "init_template_repo"]

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


def init_template_repo(dest: Path, version: str = DEFAULT_VERSION) -> Path:
    """Create a template repository at `dest` from the bundled set, committed and tagged.

    Args:
        dest: a directory that does not exist yet or is empty.
        version: the first version, a PEP 440 version such as `v0.1.0`; the tag is always
            `v`-prefixed (`0.1.0` tags `v0.1.0`), like the tags `template release` makes.

    Returns:
        The absolute path of the new repository: what `scaffold new --template` takes and what
        a service's `_src_path` should name.

    Raises:
        TemplateError: `version` is not a PEP 440 release version.
        DestinationError: `dest` exists and is not an empty directory, or cannot be written.
        GitError: git failed; nothing is left at `dest`.
    """
    _check_version(version)
    version = version_tag(version)
    dest = dest.expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DestinationError(
            f"{dest} already exists and is not empty", hint="choose an empty or new directory"
        )
    source = bundled_templates()
    missing = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    staging: Path | None = None
    try:
        with deferred():
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
            except OSError as exc:
                raise DestinationError(
                    f"cannot create {dest}: {exc.strerror}", hint="choose a writable directory"
                ) from None
        out = staging / dest.name
        shutil.copytree(source, out, ignore=_IGNORED)
        commit_all(
            out, f"Start the template set at {version}\n\nCopied from the bundled templates."
        )
        _tag(out, version)
        with deferred():
            try:
                out.rename(dest)  # replaces an empty directory, never a non-empty one
            except OSError as exc:
                raise DestinationError(
                    f"{dest} is no longer empty (or cannot be replaced): {exc.strerror}",
                    hint="choose an empty or new directory",
                ) from None
    except BaseException:
        with deferred():
            if missing:
                shutil.rmtree(missing[-1], ignore_errors=True)
        raise
    finally:
        with deferred():
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
    return dest


def _check_version(version: str) -> None:
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise TemplateError(
            f"{version!r} is not a version copier can read",
            hint="use a PEP 440 version such as v0.1.0",
        ) from None
    if parsed.is_prerelease or parsed.is_devrelease:
        raise TemplateError(
            f"{version!r} is a pre-release, which copier skips by default",
            hint="start from a release version such as v0.1.0",
        )


def _tag(path: Path, version: str) -> None:
    """Make an annotated tag: a release with a date and an author, as `git describe` expects."""
    try:
        _git.run(
            path,
            "tag",
            "--no-sign",
            "-a",
            version,
            "-m",
            f"Template set {version}",
            env=identity_env(path),
        )
    except GitFailed as exc:
        raise GitError(
            f"could not tag {version} in {path}: {exc.reason}", hint="check git"
        ) from None
