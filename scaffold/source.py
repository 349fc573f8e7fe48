"""Where a template set comes from: the bundled default, a local directory, or a git repository.

copier renders from the source itself; this module gives the CLI a local view of the same
version (copier.yml and policy.yml) so it can validate the policy and ask the questions before
anything is rendered.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from scaffold import _git, _yaml
from scaffold._git import GitFailed
from scaffold.errors import TemplateError
from scaffold.policy import POLICY_FILE, Policy, load_policy

__all__ = [
    "COPIER_FILE",
    "TemplateSource",
    "as_tagged",
    "bundled_templates",
    "check_source",
    "latest_version",
    "latest_version_tag",
    "open_source",
    "tags",
    "version_tag",
]

COPIER_FILE = "copier.yml"

_REMOTE = re.compile(r"^(\w+://|git@)|\.git$")
# git's `<transport>::<address>` syntax hands the address to a remote helper; `ext::` runs it
# as a command. A template source is a path or a URL, never that.
_TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")


def bundled_templates() -> Path:
    """Directory of the default template set shipped with otel-scaffold."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if (candidate / COPIER_FILE).is_file():
            return candidate
    raise TemplateError(
        "the bundled templates are missing from this installation",
        hint="reinstall otel-scaffold or pass --template",
    )


@dataclass(frozen=True)
class TemplateSource:
    """One version of a template set, readable locally.

    Attributes:
        url: what copier is given and records as `_src_path` (an absolute path or a git URL).
        ref: the git ref copier renders (a tag or commit); None for a plain directory.
        root: a local directory holding that version's copier.yml and policy.yml.
    """

    url: str
    ref: str | None
    root: Path

    def policy(self) -> Policy:
        """Load and validate this version's org policy."""
        return load_policy(self.root / POLICY_FILE)

    def config(self) -> dict[str, Any]:
        """This version's copier.yml, with `!include` resolved as copier resolves it."""
        return load_copier_config(self.root / COPIER_FILE)


@contextmanager
def open_source(src: str | None = None, ref: str | None = None) -> Iterator[TemplateSource]:
    """Resolve a template source and make the requested version readable.

    Without `src` the bundled template set is used, as a versioned source: the cache repository
    of `scaffold.bundled` at the installed version's tag (or at `ref`), so the service it renders
    can be updated after otel-scaffold is upgraded. A git source (a URL, or a local directory that
    is a git repository) is cloned into a temporary directory at `ref`, or at its latest PEP 440
    tag (what copier picks by default), or at HEAD when it has no version tags.

    Raises:
        TemplateError: the source does not exist, cannot be cloned, or has no such ref.
        GitError: the bundled templates' cache repository cannot be written.
    """
    recorded: str | None = None
    if src is None:
        from scaffold.bundled import bundled_repo

        bundled = bundled_repo()
        if ref is None or ref == bundled.ref:
            # The tag's tree is exactly the installed template directory: read it there.
            yield TemplateSource(url=bundled.url, ref=bundled.ref, root=bundled.templates)
            return
        src, recorded = str(bundled.path), bundled.url
    check_source(src)
    local = Path(src).expanduser()
    is_remote = bool(_REMOTE.search(src)) and not local.is_dir()
    if not is_remote and not local.is_dir():
        raise TemplateError(
            f"template {src!r} not found",
            hint="pass --template with the path or git URL of a template set",
        )
    if not is_remote and not is_git_root(local):
        if not (local / COPIER_FILE).is_file():
            raise TemplateError(
                f"{src!r} has no {COPIER_FILE}",
                hint="point --template at the root of a template set",
            )
        root = local.resolve()
        yield TemplateSource(url=str(root), ref=None, root=root)
        return
    url = _copier_url(src) if is_remote else str(local.resolve())
    with tempfile.TemporaryDirectory(prefix="scaffold-template-") as tmp:
        checkout = Path(tmp) / "template"
        try:
            _git.run(
                None,
                "clone",
                "-q",
                "--no-checkout",
                "--",
                url.removeprefix("git+"),
                str(checkout),
                network=True,
            )
        except GitFailed as exc:
            raise TemplateError(
                f"cannot reach template {src!r}: {exc.reason}",
                hint="check the URL and your access to it",
            ) from None
        chosen = ref or latest_version_tag(checkout) or "HEAD"
        try:
            _git.run(checkout, "checkout", "-q", chosen, "--")
        except GitFailed:
            raise TemplateError(
                f"template {src!r} has no version {chosen!r}", hint="pick an existing tag or commit"
            ) from None
        if not (checkout / COPIER_FILE).is_file():
            raise TemplateError(
                f"{src!r} at {chosen} has no {COPIER_FILE}",
                hint="point --template at a template set",
            )
        resolved = chosen
        if not ref and chosen == "HEAD":
            resolved = _git.run(checkout, "rev-parse", "HEAD").strip()
        yield TemplateSource(url=recorded or url, ref=resolved, root=checkout)


def check_source(src: str) -> None:
    """Refuse a template source that git would run as a command or read as an option.

    Raises:
        TemplateError: `src` starts with a dash or uses git's `<transport>::` syntax.
    """
    if src.startswith("-") or _TRANSPORT_HELPER.match(src):
        raise TemplateError(
            f"template {src!r} is not a path or URL git may clone (the <transport>:: form runs "
            "a command)",
            hint="pass --template with a path, an https:// or ssh:// URL, or user@host:path",
        )


def version_tag(version: str) -> str:
    """The tag of a version: always `v`-prefixed, so `1.1.0` and `v1.1.0` both tag `v1.1.0`.

    The one spelling every tag otel-scaffold makes (`template init`, `template release`) uses.
    """
    return f"v{version[1:]}" if version[:1] in ("v", "V") else f"v{version}"


def as_tagged(ref: str, names: Collection[str]) -> str:
    """`ref` spelled as the template source spells it: `1.1.0` names the tag `v1.1.0`, and back.

    A ref the source has as written, or in neither spelling, is returned unchanged.
    """
    if ref in names:
        return ref
    other = ref[1:] if ref[:1] in ("v", "V") else f"v{ref}"
    return other if other in names else ref


def latest_version_tag(repo: Path) -> str | None:
    """The highest PEP 440 version tag of the repository at `repo`, as copier would choose it.

    Raises:
        GitFailed: `repo` is not a git repository.
    """
    return latest_version(tags(repo))


def tags(repo: Path) -> list[str]:
    """Every tag name of the repository at `repo`.

    Raises:
        GitFailed: `repo` is not a git repository.
    """
    out = _git.run(repo, "for-each-ref", "--format=%(refname:strip=2)", "refs/tags")
    return out.split()


def latest_version(names: Iterable[str]) -> str | None:
    """The highest release (PEP 440, not a pre-release) among tag names, or None."""
    best: tuple[Version, str] | None = None
    for name in names:
        try:
            version = Version(name)
        except InvalidVersion:
            continue
        if not version.is_prerelease and (best is None or version > best[0]):
            best = (version, name)
    return best[1] if best else None


def load_copier_config(path: Path) -> dict[str, Any]:
    """Read a copier.yml, resolving `!include` relative to its directory like copier does."""
    root = path.parent.resolve()

    class _Loader(_yaml.BoundedLoader):
        pass

    def _include(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
        pattern = str(loader.construct_scalar(node))  # type: ignore[arg-type]
        docs: list[Any] = []
        for included in sorted(root.glob(pattern)):
            docs.extend(d for d in _yaml.safe_load_all(included.read_text(encoding="utf-8")) if d)
        return docs

    _Loader.add_constructor("!include", _include)
    try:
        text = path.read_text(encoding="utf-8")
        docs = [d for d in _yaml.safe_load_all(text, _Loader) if d]
    except FileNotFoundError:
        raise TemplateError(
            f"{path} not found", hint="point --template at the root of a template set"
        ) from None
    except UnicodeDecodeError as exc:
        raise TemplateError(
            f"{path} (or a file it includes) is not UTF-8 text (byte {exc.start})",
            hint="save the template's files encoded as UTF-8",
        ) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or exc
        raise TemplateError(
            f"{path} is not valid YAML ({' '.join(str(problem).split())})",
            hint="fix the template's copier.yml",
        ) from None
    merged: dict[str, Any] = {}
    for doc in docs:
        if not isinstance(doc, dict):
            raise TemplateError(f"{path} must be a mapping", hint="fix the template's copier.yml")
        merged.update(doc)
    return merged


def _copier_url(url: str) -> str:
    """Spell a git URL so copier knows it is one (it recognises `git+` and `.git`)."""
    if url.startswith(("git+", "git@", "gh:", "gl:")) or url.endswith(".git"):
        return url
    return f"git+{url}"


def is_git_root(path: Path) -> bool:
    """Whether `path` is the top of a git repository (a work tree or a bare repository)."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "refs").is_dir())
