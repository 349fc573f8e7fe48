"""The bundled template set as a versioned template source that works offline.

A service made without `--template` must take the templates of a newer otel-scaffold with
`scaffold update`, on a machine without network. copier updates by rendering the version a
service is on and the new one, so both must be at hand as git history. Versions of the bundled
set are versions of the tool: the set shipped with otel-scaffold X.Y.Z is template version
`vX.Y.Z`.

- At build time, `build_history` turns the project's release tags into a git bundle: one commit
  per release whose tree is that release's `templates/` directory. The wheel carries the bundle
  (`scaffold/_templates.bundle`) next to a copy of the templates (`scaffold/_templates/`).
- At run time, `bundled_repo` keeps a git repository in the user's cache
  (`$SCAFFOLD_TEMPLATE_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/otel-scaffold/templates`) that
  holds every version the installed package knows: the bundle's history, and the installed
  template tree as tag `v{version}` (or `v{version}.postN` for a development build whose tree
  differs from the released one). copier renders from that repository, and a service records it
  as `_src_path`, spelled with `~` when it lies under the home directory so the answers file
  reads the same on every machine.

The cache repository is an ordinary (not bare) repository whose work tree stays empty: copier
expands a leading `~` only for paths that do not end in `.git`, and takes a local path as a git
source only when it is the top of a work tree.

This module imports nothing from the rest of the package at import time except
`scaffold.errors` and `scaffold._git` (standard library only), so `setup.py` can load it to
build the bundle before the package's dependencies are installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scaffold import _git
from scaffold._git import GitFailed
from scaffold.errors import GitError, TemplateError

__all__ = [
    "BUNDLE_NAME",
    "CACHE_ENV",
    "BundledSource",
    "Installation",
    "build_history",
    "bundled_repo",
    "cache_path",
    "home_spelling",
    "installed",
    "is_bundled_source",
    "release_key",
]

CACHE_ENV = "SCAFFOLD_TEMPLATE_CACHE"
BUNDLE_NAME = "_templates.bundle"
IDENTITY = ("otel-scaffold", "otel-scaffold@localhost")
IGNORED_DIRS = frozenset({"__pycache__"})
IGNORED_SUFFIXES = (".pyc", ".pyo")

_RELEASE = re.compile(r"^v(?P<release>\d+(?:\.\d+)*)(?:\.post(?P<post>\d+))?$")
_STATE_DIR = "otel-scaffold"


@dataclass(frozen=True)
class BundledSource:
    """The bundled template set at one version, ready for copier.

    Attributes:
        url: what copier is given and a service records as `_src_path`: the cache repository,
            spelled `~/...` when it lies under the home directory.
        ref: the version tag (`v0.2.0`, or `v0.2.0.post1` for a development build).
        path: the cache repository, absolute.
        templates: the installed template directory, whose tree is exactly `ref`'s.
    """

    url: str
    ref: str
    path: Path
    templates: Path


@dataclass(frozen=True)
class Installation:
    """What an installed otel-scaffold carries: its version, template tree and history.

    Attributes:
        version: the tool version; its template version is `v{version}`.
        templates: the template tree the package carries (copier.yml, policy.yml, go/, rust/).
        bundle: the git bundle of released template versions, if the package has one.
        project: a source checkout's root, whose own release tags stand in for the bundle.
        cache: the cache repository; default `cache_path()`.
    """

    version: str
    templates: Path
    bundle: Path | None = None
    project: Path | None = None
    cache: Path | None = None

    @property
    def tag(self) -> str:
        """The template version of this installation's tree."""
        return f"v{self.version}"

    def sync(self) -> BundledSource:
        """Make sure the cache repository holds this installation's versions; name its own.

        Seeds the cache on first use, fetches the packaged history (released tags replace
        any local tag of the same name), and tags the installed tree when no tag has exactly
        that tree. Safe to run from several processes at once.

        Raises:
            GitError: git is missing or the cache cannot be written.
            TemplateError: the installation's templates or bundle are unusable.
        """
        if not (self.templates / "copier.yml").is_file():
            raise TemplateError(
                f"the bundled templates at {self.templates} have no copier.yml",
                hint="reinstall otel-scaffold or pass --template",
            )
        cache = (self.cache or cache_path()).expanduser().absolute()
        with _locked(cache):
            _ensure_repo(cache)
            if self.bundle is not None and self.bundle.is_file():
                _fetch_bundle(cache, self.bundle)
            elif self.project is not None:
                _fetch_project_history(cache, self.project)
            ref = _tag_tree(cache, self.templates, self.tag)
        return BundledSource(
            url=home_spelling(cache), ref=ref, path=cache, templates=self.templates
        )


def installed() -> Installation:
    """The running otel-scaffold: its version, templates, and bundle or source checkout."""
    from scaffold import __version__
    from scaffold.source import bundled_templates

    templates = bundled_templates()
    here = Path(__file__).resolve().parent
    bundle = here / BUNDLE_NAME
    project = None
    checkout = here.parent
    if templates == checkout / "templates" and (checkout / ".git").exists():
        project = checkout
    return Installation(
        version=__version__,
        templates=templates,
        bundle=bundle if bundle.is_file() else None,
        project=project,
    )


def bundled_repo() -> BundledSource:
    """The installed bundled templates as a versioned source in the cache (seeded if needed).

    Raises:
        GitError: git is missing or the cache cannot be written.
        TemplateError: the installation's templates are missing.
    """
    return installed().sync()


def cache_path() -> Path:
    """Where the cache repository lives (it may not exist yet)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().absolute() / "otel-scaffold" / "templates"


def home_spelling(path: Path) -> str:
    """`path` as `~/...` when it lies under the home directory, else absolute."""
    path = path.expanduser().absolute()
    try:
        home = Path.home().absolute()
    except RuntimeError:  # no home directory to speak of
        return str(path)
    if home != Path(home.anchor) and path != home and path.is_relative_to(home):
        return f"~/{path.relative_to(home).as_posix()}"
    return str(path)


def is_bundled_source(src: str, cache: Path | None = None) -> bool:
    """Whether a service's `_src_path` names the bundled templates' cache repository."""
    if not src.startswith(("/", "~")):
        return False
    target = (cache or cache_path()).expanduser().absolute()
    return Path(os.path.normpath(Path(src).expanduser().absolute())) == Path(
        os.path.normpath(target)
    )


def release_key(tag: str) -> tuple[tuple[int, ...], int] | None:
    """Sort key of a release tag `vX.Y.Z` or `vX.Y.Z.postN`; None for anything else.

    These are the PEP 440 final releases the project tags (no pre-, dev- or local versions).
    `v1.0` and `v1.0.0` compare equal, as PEP 440 says.
    """
    match = _RELEASE.match(tag)
    if match is None:
        return None
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    return tuple(release), int(match["post"] or -1)


# -- build time ---------------------------------------------------------------------------------


def build_history(project_root: Path, out: Path, head: str = "HEAD") -> list[str]:
    """Write a git bundle with one commit per release tag of the project: its `templates/`.

    Each release tag `vX.Y.Z` of the repository at `project_root` that is part of `head`'s
    history (a build of an older version does not carry later releases) and whose tree has
    `templates/copier.yml` becomes one commit whose tree is that tag's `templates/` directory,
    child of the previous release's commit, tagged `vX.Y.Z` (annotated) in the bundle. Identity,
    dates (the tagged commit's committer date, kept increasing) and messages are fixed, so the
    same releases give the same commits and tags in every build.

    Returns:
        The tags in the bundle, oldest first. Empty when the project has no release with
        templates; then no bundle is written and `out` is removed if it exists.

    Raises:
        GitError: `project_root` is not a git repository, or git failed.
    """
    project_root = project_root.absolute()
    out = out.absolute()
    with tempfile.TemporaryDirectory(prefix="scaffold-history-") as tmp:
        repo = Path(tmp) / "history.git"
        _run_git(None, "init", "-q", "--bare", str(repo))
        try:
            listing = _run_git(
                project_root,
                "for-each-ref",
                "--format=%(refname:strip=2)",
                f"--merged={head}",
                "refs/tags",
            )
        except GitError as exc:
            raise GitError(
                f"cannot read the release tags of {project_root}: {exc.message}",
                hint="build from a git checkout of otel-scaffold (or from its sdist)",
            ) from None
        releases = sorted(
            (key, tag) for tag in listing.split() if (key := release_key(tag)) is not None
        )
        if releases:
            _run_git(
                repo,
                "fetch",
                "-q",
                "--no-tags",
                str(project_root),
                *(f"+refs/tags/{tag}:refs/tags/{tag}" for _, tag in releases),
            )
        tags: list[str] = []
        parent: str | None = None
        last_date = 0
        for _, tag in releases:
            if not _exists(repo, f"refs/tags/{tag}:templates/copier.yml"):
                continue
            tree = _run_git(repo, "rev-parse", f"refs/tags/{tag}:templates").strip()
            date = int(_run_git(repo, "log", "-1", "--format=%ct", f"refs/tags/{tag}").strip())
            date = max(date, last_date + 1)
            commit = _commit(repo, tree, parent, f"otel-scaffold templates {tag}", date)
            _run_git(repo, "update-ref", "-d", f"refs/tags/{tag}")
            _tag(repo, tag, commit, date)
            parent, last_date = commit, date
            tags.append(tag)
        for _, tag in releases:
            if tag not in tags:
                _run_git(repo, "update-ref", "-d", f"refs/tags/{tag}")
        out.unlink(missing_ok=True)
        if tags:
            out.parent.mkdir(parents=True, exist_ok=True)
            _run_git(repo, "bundle", "create", "-q", str(out), *(f"refs/tags/{t}" for t in tags))
    return tags


# -- run time -----------------------------------------------------------------------------------


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<cache>.lock` (two processes may seed the cache at once)."""
    lock = cache.with_name(cache.name + ".lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = lock.open("a")
    except OSError as exc:
        raise GitError(
            f"cannot use the template cache at {cache}: {exc.strerror}",
            hint=f"make {lock.parent} writable or set {CACHE_ENV} to a writable path",
        ) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_repo(cache: Path) -> None:
    if (cache / ".git" / "HEAD").is_file():
        return
    if cache.exists() and (not cache.is_dir() or any(cache.iterdir())):
        raise GitError(
            f"the template cache {cache} exists and is not an otel-scaffold cache repository",
            hint=f"remove it (it is rebuilt on the next run) or set {CACHE_ENV} elsewhere",
        )
    _run_git(None, "init", "-q", str(cache))
    # The work tree stays empty; nothing there is ever committed.
    (cache / ".git" / "description").write_text(
        "otel-scaffold: versions of the bundled templates (rebuilt when removed)\n",
        encoding="utf-8",
    )


def _fetch_bundle(cache: Path, bundle: Path) -> None:
    """Fetch the packaged history unless every tag in it is already in the cache."""
    try:
        heads = _run_git(cache, "bundle", "list-heads", str(bundle.absolute()))
    except GitError as exc:
        raise TemplateError(
            f"the template history {bundle} is unreadable: {exc.message}",
            hint="reinstall otel-scaffold",
        ) from None
    wanted = {}
    for line in heads.splitlines():
        sha, _, ref = line.partition(" ")
        if ref.startswith("refs/tags/"):
            wanted[ref] = sha
    have = _refs(cache)
    if all(have.get(ref) == sha for ref, sha in wanted.items()):
        return
    _run_git(cache, "fetch", "-q", "--no-tags", str(bundle.absolute()), "+refs/tags/*:refs/tags/*")


def _fetch_project_history(cache: Path, project: Path) -> None:
    """In a source checkout: the history built from the checkout's own release tags, cached."""
    try:
        signature = _run_git(
            project,
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            "--merged=HEAD",
            "refs/tags",
        )
    except GitError:
        return  # not a usable checkout: the installed tree alone is the history
    state = cache / ".git" / _STATE_DIR
    stamp = state / f"source-{hashlib.sha256(str(project).encode()).hexdigest()[:16]}"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == signature:
        return
    with tempfile.TemporaryDirectory(prefix="scaffold-history-") as tmp:
        bundle = Path(tmp) / "templates.bundle"
        if build_history(project, bundle):
            _fetch_bundle(cache, bundle)
    state.mkdir(exist_ok=True)
    stamp.write_text(signature, encoding="utf-8")


def _tag_tree(cache: Path, templates: Path, base: str) -> str:
    """The tag whose tree is exactly `templates`: `base`, or `base.postN`; made if missing."""
    tree = _tree_id(cache, templates)
    tags = _tags(cache)
    candidates = [tag for tag in tags if tag == base or tag.startswith(base + ".post")]
    for tag in sorted(candidates, key=lambda t: release_key(t) or ((), -1)):
        if tags[tag][1] == tree and release_key(tag) is not None:
            return tag
    if base not in tags:
        name = base
    else:
        posts = [key[1] for tag in candidates if (key := release_key(tag)) is not None]
        name = f"{base}.post{max([0, *posts]) + 1}"
    new_key = release_key(name)
    older = [
        (key, tag)
        for tag in tags
        if (key := release_key(tag)) is not None and new_key is not None and key <= new_key
    ]
    parent = tags[max(older)[1]][0] if older else None
    date = int(time.time())
    if parent is not None:
        parent_date = int(_run_git(cache, "log", "-1", "--format=%ct", parent).strip())
        date = max(date, parent_date + 1)
    suffix = "" if name == base else " (development build)"
    commit = _commit(cache, tree, parent, f"otel-scaffold templates {name}{suffix}", date)
    _tag(cache, name, commit, date)
    return name


def _tree_id(cache: Path, templates: Path) -> str:
    """The git tree of a directory, without __pycache__ or .pyc files and ignoring no file.

    An explicit file list (rather than `git add -A`) keeps `.gitignore` files inside the
    templates, and the user's own ignore rules, from dropping a file the package carries.
    """
    files: list[str] = []
    for top, dirs, names in os.walk(templates):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and d != ".git")
        rel = Path(top).relative_to(templates)
        files += [
            (rel / name).as_posix() for name in sorted(names) if not name.endswith(IGNORED_SUFFIXES)
        ]
    with tempfile.TemporaryDirectory(prefix="scaffold-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        base = ("--git-dir", str(cache / ".git"), "--work-tree", str(templates))
        _run_git(
            None,
            "-c",
            "core.autocrlf=false",
            *base,
            "update-index",
            "--add",
            "-z",
            "--stdin",
            env=env,
            stdin="".join(f"{f}\0" for f in files),
        )
        return _run_git(None, *base, "write-tree", env=env).strip()


def _tags(cache: Path) -> dict[str, tuple[str, str]]:
    """Every tag of the cache: name -> (commit, tree)."""
    out = _run_git(
        cache,
        "for-each-ref",
        "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)%00%(tree)%00%(*tree)",
        "refs/tags",
    )
    tags: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():
        name, obj, peeled, tree, peeled_tree = line.split("\0")
        tags[name] = (peeled or obj, peeled_tree or tree)
    return tags


def _refs(cache: Path) -> dict[str, str]:
    out = _run_git(cache, "for-each-ref", "--format=%(objectname) %(refname)", "refs/tags")
    return {ref: sha for sha, _, ref in (line.partition(" ") for line in out.splitlines())}


def _commit(repo: Path, tree: str, parent: str | None, message: str, date: int) -> str:
    parents = ("-p", parent) if parent else ()
    return _run_git(
        repo,
        "commit-tree",
        "--no-gpg-sign",
        tree,
        *parents,
        "-m",
        message,
        env=_identity(date),
    ).strip()


def _tag(repo: Path, name: str, commit: str, date: int) -> None:
    """An annotated tag, as a release is tagged (`git describe` reads only those)."""
    _run_git(
        repo,
        "tag",
        "--no-sign",
        "-f",
        "-a",
        "-m",
        f"otel-scaffold templates {name}",
        name,
        commit,
        env=_identity(date),
    )


def _identity(date: int) -> dict[str, str]:
    name, email = IDENTITY
    stamp = f"{date} +0000"
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": stamp,
    }


def _exists(repo: Path, rev: str) -> bool:
    try:
        _run_git(repo, "rev-parse", "--verify", "--quiet", rev)
    except GitError:
        return False
    return True


def _run_git(
    cwd: Path | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> str:
    """Run a local git command and return its stdout; a failure names git's reason."""
    command = (*(("-C", str(cwd)) if cwd is not None else ()), *args)
    try:
        return _git.run(None, *command, env=env, input=stdin)
    except GitFailed as exc:
        if exc.returncode is None:
            raise
        raise GitError(
            f"git {_verb(args)} failed: {exc.reason}",
            hint="check the template cache's disk space and permissions",
        ) from None


def _verb(args: tuple[str, ...]) -> str:
    """The git subcommand among `args` (after `-c X`, `--git-dir X`, `--work-tree X`)."""
    rest = list(args)
    while rest and rest[0] in ("-c", "--git-dir", "--work-tree"):
        rest = rest[2:]
    return rest[0] if rest else "git"
