"""The bundled templates as a versioned source: build-time history, run-time cache, updates.

A fake otel-scaffold project (a git repository with `templates/` at tags v0.1.0 and v0.2.0)
plays the releases; `Installation`s built from it play the tool installed at each version. Every
git and copier call is real; `GIT_ALLOW_PROTOCOL=file` proves nothing goes to the network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from scaffold import __version__, bundled
from scaffold.bundled import (
    CACHE_ENV,
    Installation,
    build_history,
    cache_path,
    home_spelling,
    is_bundled_source,
    release_key,
)
from scaffold.cli import cli
from scaffold.errors import GitError, NotVersionedError
from scaffold.render import NewService
from scaffold.source import bundled_templates, open_source
from scaffold.update import ANSWERS_FILE, UpdateService, check

from .conftest import copier_update_as_renovate, render, run

# The dev ratio of the sampling table in policy.go, and the ratio of the other environments.
DEV_RATIO_LINE = '\t"dev":     1.0,\n'
DEFAULT_RATIO_LINE = "const defaultRatio = "
DOC_NOTE = "// Shutdown flushes telemetry within the policy's deadline (template v0.2.0).\n"


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return run(["git", *args], cwd, env=env)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _answers(svc: Path) -> dict[str, object]:
    loaded = yaml.safe_load((svc / ANSWERS_FILE).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _commit_all(repo: Path, message: str, date: str) -> None:
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, env=env)


@dataclass(frozen=True)
class Project:
    """A fake otel-scaffold checkout with two releases, and each release's template tree."""

    root: Path
    v1: Path
    v2: Path


def _v2_templates(v1: Path, dest: Path) -> Path:
    """v0.2.0 of the templates: the sampling ratio and a Go file change."""
    shutil.copytree(v1, dest)
    policy = dest / "policy.yml"
    text = policy.read_text(encoding="utf-8")
    assert "  ratio: 0.1\n" in text and "    dev: 1.0\n" in text
    text = text.replace("  ratio: 0.1\n", "  ratio: 0.25\n", 1).replace("    dev: 1.0\n", "", 1)
    policy.write_text(text, encoding="utf-8")
    doc = dest / "go" / "{{ telemetry_dir }}" / "doc.go.jinja"
    doc.write_text(doc.read_text(encoding="utf-8") + "\n" + DOC_NOTE, encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("project")
    v1 = base / "templates-v0.1.0"
    shutil.copytree(bundled_templates(), v1, ignore=shutil.ignore_patterns("__pycache__"))
    v2 = _v2_templates(v1, base / "templates-v0.2.0")
    root = base / "otel-scaffold"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "README.md").write_text("otel-scaffold\n", encoding="utf-8")
    _commit_all(root, "Start", "2025-01-01T00:00:00Z")
    _git(root, "tag", "v0.0.1")  # a release from before the templates existed: skipped
    shutil.copytree(v1, root / "templates")
    _commit_all(root, "Release 0.1.0", "2025-02-01T00:00:00Z")
    _git(root, "tag", "-a", "v0.1.0", "-m", "0.1.0")
    _git(root, "tag", "nightly")  # not a version: skipped
    shutil.rmtree(root / "templates")
    shutil.copytree(v2, root / "templates")
    _commit_all(root, "Release 0.2.0", "2025-03-01T00:00:00Z")
    _git(root, "tag", "v0.2.0")
    (root / "templates" / "copier.yml").write_text("broken: [\n", encoding="utf-8")
    _commit_all(root, "Work towards 0.3", "2025-03-02T00:00:00Z")
    _git(root, "tag", "v0.3.0rc1")  # a pre-release: skipped
    return Project(root=root, v1=v1, v2=v2)


@pytest.fixture(scope="module")
def bundles(project: Project, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundle each fake tool version ships: its history up to its own release."""
    out = tmp_path_factory.mktemp("bundles")
    made = {}
    for version in ("0.1.0", "0.2.0"):
        made[version] = out / f"{version}.bundle"
        assert build_history(project.root, made[version], head=f"v{version}")
    return made


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own: fake versions must not reach the session's cache."""
    path = tmp_path / "cache" / "templates"
    monkeypatch.setenv(CACHE_ENV, str(path))
    return path


class Tool:
    """Plays an installed otel-scaffold: `install(version)` swaps the installation."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, trees: dict[str, Path], bundles: dict[str, Path]
    ):
        self.monkeypatch = monkeypatch
        self.trees = trees
        self.bundles = bundles

    def install(self, version: str) -> Installation:
        installation = Installation(
            version=version, templates=self.trees[version], bundle=self.bundles[version]
        )
        self.monkeypatch.setattr(bundled, "installed", lambda: installation)
        return installation


@pytest.fixture
def tool(
    project: Project, bundles: dict[str, Path], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tool]:
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")  # no network: any other transport fails
    yield Tool(monkeypatch, {"0.1.0": project.v1, "0.2.0": project.v2}, bundles)


# -- build time ---------------------------------------------------------------------------------


def test_history_has_one_commit_per_release_and_the_same_shas_in_every_build(
    project: Project, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.bundle", tmp_path / "b.bundle"
    assert build_history(project.root, first) == ["v0.1.0", "v0.2.0"]
    assert build_history(project.root, second) == ["v0.1.0", "v0.2.0"]
    heads = _git(tmp_path, "bundle", "list-heads", str(first))
    assert heads == _git(tmp_path, "bundle", "list-heads", str(second))
    assert sorted(line.split()[1] for line in heads.splitlines()) == [
        "refs/tags/v0.1.0",
        "refs/tags/v0.2.0",
    ]

    repo = tmp_path / "clone"
    _git(tmp_path, "init", "-q", str(repo))
    _git(repo, "bundle", "verify", str(first))
    _git(repo, "fetch", "-q", str(first), "+refs/tags/*:refs/tags/*")
    for tag in ("v0.1.0", "v0.2.0"):
        # Each version's tree is exactly the project's templates/ at that release.
        assert _git(repo, "rev-parse", f"{tag}^{{tree}}") == _git(
            project.root, "rev-parse", f"{tag}:templates"
        )
    log = _git(repo, "log", "--format=%an <%ae> %ct %s", "v0.2.0").splitlines()
    assert log == [
        "otel-scaffold <otel-scaffold@localhost> 1740787200 otel-scaffold templates v0.2.0",
        "otel-scaffold <otel-scaffold@localhost> 1738368000 otel-scaffold templates v0.1.0",
    ]
    assert _git(repo, "cat-file", "-t", "v0.1.0").strip() == "tag"  # annotated, as released

    # A build of the older release carries only its own history.
    older = tmp_path / "old.bundle"
    assert build_history(project.root, older, head="v0.1.0") == ["v0.1.0"]
    assert _git(tmp_path, "bundle", "list-heads", str(older)).split()[0] == heads.split()[0]


def test_a_project_without_releases_has_an_empty_history(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    _git(tmp_path, "init", "-q", str(root))
    shutil.copytree(bundled_templates(), root / "templates")
    _commit_all(root, "Start", "2025-01-01T00:00:00Z")
    out = tmp_path / "history.bundle"
    out.write_bytes(b"stale")
    assert build_history(root, out) == []
    assert not out.exists()
    with pytest.raises(GitError, match="release tags"):
        build_history(tmp_path / "not-a-repo", out)


# -- the user story -----------------------------------------------------------------------------


def test_a_bundled_service_takes_the_next_tool_versions_templates_offline(
    tool: Tool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    cache = home / ".cache" / "otel-scaffold" / "templates"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_path() == cache

    # otel-scaffold 0.1.0: a service from the bundled templates, then a local edit.
    tool.install("0.1.0")
    svc = tmp_path / "svc"
    made = NewService(
        dest=svc, data={"service_name": "svc", "language": "go"}, use_defaults=True
    ).run()
    assert (made.template, made.ref) == ("~/.cache/otel-scaffold/templates", "v0.1.0")
    answers = _answers(svc)
    assert (answers["_src_path"], answers["_commit"]) == (made.template, "v0.1.0")
    policy_go = svc / "internal" / "telemetry" / "policy.go"
    assert DEV_RATIO_LINE in policy_go.read_text(encoding="utf-8")
    with (svc / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("\nOur own note.\n")
    _git(svc, "commit", "-q", "-am", "Local note")
    assert check(svc).behind is False
    before_update = _git(svc, "rev-parse", "HEAD").strip()

    # Upgrade the tool: its package carries v0.2.0 and the history up to it.
    tool.install("0.2.0")
    status = check(svc)
    assert (status.current, status.latest, status.behind) == ("v0.1.0", "v0.2.0", True)
    result = UpdateService(svc).run()
    assert (result.from_version, result.to_version, result.conflicts) == (
        "v0.1.0",
        "v0.2.0",
        (),
    )
    sampling = policy_go.read_text(encoding="utf-8")
    assert f"{DEFAULT_RATIO_LINE}0.25\n" in sampling and DEV_RATIO_LINE not in sampling
    assert DOC_NOTE in (svc / "internal" / "telemetry" / "doc.go").read_text(encoding="utf-8")
    assert "Our own note." in (svc / "README.md").read_text(encoding="utf-8")
    assert _answers(svc)["_commit"] == "v0.2.0"
    _git(svc, "commit", "-q", "-am", "Take v0.2.0")
    assert check(svc).behind is False

    # Plain copier (as Renovate runs it) on the same service gives the same tree.
    by_hand = tmp_path / "by-hand"
    _git(tmp_path, "clone", "-q", str(svc), str(by_hand))
    _git(by_hand, "checkout", "-q", before_update)
    copier_update_as_renovate(by_hand, "v0.2.0")
    assert _files(by_hand) == _files(svc)


def test_an_older_bundled_version_is_readable_through_open_source(tool: Tool) -> None:
    tool.install("0.2.0")
    with open_source() as source:
        assert (source.ref, source.root) == ("v0.2.0", tool.trees["0.2.0"])
        assert source.policy().sampling_ratio("dev") == 0.25
    with open_source(None, "v0.1.0") as source:
        assert source.url == home_spelling(cache_path())
        assert source.ref == "v0.1.0"
        assert source.policy().sampling_ratio("dev") == 1.0
        assert _files(source.root) == _files(tool.trees["0.1.0"])


# -- the installed tree is always a tag ---------------------------------------------------------


def test_a_development_tree_gets_a_post_tag_and_the_same_tree_reuses_its_tag(
    tool: Tool, tmp_path: Path, cache: Path
) -> None:
    tree = tmp_path / "dev-templates"
    shutil.copytree(tool.trees["0.1.0"], tree)
    dev = Installation(version="0.1.0", templates=tree, bundle=tool.bundles["0.1.0"])
    assert dev.sync().ref == "v0.1.0"  # the released tree: the released tag

    policy = tree / "policy.yml"
    released = policy.read_text(encoding="utf-8")
    policy.write_text(released.replace("timeout_ms: 5000", "timeout_ms: 4000"), encoding="utf-8")
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    first = dev.sync()
    assert first.ref == "v0.1.0.post1"
    assert dev.sync().ref == "v0.1.0.post1"  # same tree, same tag
    assert _git(cache, "show", "v0.1.0.post1:policy.yml") == policy.read_text(encoding="utf-8")
    assert "__pycache__" not in _git(cache, "ls-tree", "-r", "--name-only", "v0.1.0.post1")
    assert _git(cache, "rev-parse", "v0.1.0.post1^^{commit}") == _git(
        cache, "rev-parse", "v0.1.0^{commit}"
    )

    # A .gitignore inside the templates (rust/ has one) never drops a file the package carries.
    (tree / "rust" / "target").mkdir()
    (tree / "rust" / "target" / "kept.txt").write_text("shipped\n", encoding="utf-8")
    assert dev.sync().ref == "v0.1.0.post2"
    assert "rust/target/kept.txt" in _git(cache, "ls-tree", "-r", "--name-only", "v0.1.0.post2")

    shutil.rmtree(tree / "rust" / "target")
    policy.write_text(released, encoding="utf-8")
    assert dev.sync().ref == "v0.1.0"

    # A version the bundle does not have yet is made on top of the newest older release.
    ahead = Installation(version="0.3.0", templates=tree, bundle=tool.bundles["0.2.0"])
    assert ahead.sync().ref == "v0.3.0"
    assert _git(cache, "rev-parse", "v0.3.0^^{commit}") == _git(
        cache, "rev-parse", "v0.2.0^{commit}"
    )


def test_released_history_replaces_a_locally_made_tag(tool: Tool, tmp_path: Path) -> None:
    # A build made before v0.2.0 was tagged: the cache makes v0.2.0 from the installed tree.
    early = Installation(
        version="0.2.0", templates=tool.trees["0.2.0"], bundle=tool.bundles["0.1.0"]
    )
    cache = early.sync().path
    local = _git(cache, "rev-parse", "v0.2.0").strip()
    released = tool.install("0.2.0").sync()
    assert released.ref == "v0.2.0"
    assert _git(cache, "rev-parse", "v0.2.0").strip() != local
    assert (
        _git(cache, "rev-parse", "v0.2.0").strip()
        == _git(
            tmp_path, "bundle", "list-heads", str(tool.bundles["0.2.0"]), "refs/tags/v0.2.0"
        ).split()[0]
    )


SEEDER = """
import sys, time
from pathlib import Path
from scaffold.bundled import Installation
tree, bundle, ready, go = map(Path, sys.argv[1:])
installation = Installation(version="0.1.0", templates=tree, bundle=bundle)
ready.touch()
while not go.exists():  # start together: the seeding itself is what races
    time.sleep(0.001)
print(installation.sync().ref)
"""


def test_concurrent_seeders_leave_one_consistent_cache(
    tool: Tool, tmp_path: Path, cache: Path
) -> None:
    tree = tmp_path / "dev-templates"
    shutil.copytree(tool.trees["0.1.0"], tree)
    (tree / "NOTES.md").write_text("a development build\n", encoding="utf-8")
    go = tmp_path / "go"
    procs = []
    for i in range(4):
        args = [str(tree), str(tool.bundles["0.2.0"]), str(tmp_path / f"ready{i}"), str(go)]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", SEEDER, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{i}").exists() for i in range(4)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    assert [out.strip() for out, _ in outputs] == ["v0.1.0.post1"] * 4
    assert _git(cache, "tag").split() == ["v0.1.0", "v0.1.0.post1", "v0.2.0"]
    _git(cache, "fsck", "--no-progress", "--strict")


def test_a_cache_path_that_is_something_else_is_refused(tmp_path: Path, cache: Path) -> None:
    cache.mkdir(parents=True)
    (cache / "precious.txt").write_text("not ours\n", encoding="utf-8")
    installation = Installation(version="0.1.0", templates=bundled_templates())
    with pytest.raises(GitError, match=f"set {CACHE_ENV}"):
        installation.sync()
    assert (cache / "precious.txt").read_text(encoding="utf-8") == "not ours\n"


# -- the real installation, through the CLI -----------------------------------------------------


def test_new_then_check_through_the_cli_is_up_to_date(tmp_path: Path) -> None:
    runner = CliRunner()
    dest = tmp_path / "orders"
    made = runner.invoke(cli, ["new", "orders", "--lang", "go", "--defaults", "--dest", str(dest)])
    assert made.exit_code == 0, made.output
    answers = _answers(dest)
    assert is_bundled_source(str(answers["_src_path"]))
    assert str(answers["_commit"]).startswith(f"v{__version__}")
    checked = runner.invoke(cli, ["check", str(dest)])
    assert checked.exit_code == 0, checked.output
    assert f"is on {answers['_commit']}, the latest version" in checked.output


def test_a_service_from_the_old_plain_directory_is_told_how_to_move(tmp_path: Path) -> None:
    svc = tmp_path / "svc"
    render(svc, git_init=True, service_name="svc")
    answers = _answers(svc)
    tag = answers["_commit"]
    # What an otel-scaffold without a versioned bundled set wrote.
    answers["_src_path"] = str(bundled_templates())
    del answers["_commit"]
    (svc / ANSWERS_FILE).write_text(yaml.safe_dump(answers), encoding="utf-8")
    _git(svc, "commit", "-q", "-am", "as an older otel-scaffold made it")
    for call in (lambda: UpdateService(svc).run(), lambda: check(svc)):
        with pytest.raises(NotVersionedError) as caught:
            call()
        message = str(caught.value)
        assert "\n" not in message and caught.value.exit_code == 9
        assert f"_src_path: {home_spelling(cache_path())}" in message
        assert f"_commit: v{__version__}" in message

    # Following the hint puts it on the bundled history.
    answers["_src_path"] = home_spelling(cache_path())
    answers["_commit"] = f"v{__version__}"
    (svc / ANSWERS_FILE).write_text(yaml.safe_dump(answers), encoding="utf-8")
    _git(svc, "commit", "-q", "-am", "Take updates from the bundled history")
    status = check(svc)
    assert status.behind is False and status.latest == tag


# -- small pieces -------------------------------------------------------------------------------


def test_spellings_and_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert home_spelling(tmp_path / "c" / "templates") == "~/c/templates"
    assert home_spelling(Path("/elsewhere/templates")) == "/elsewhere/templates"
    monkeypatch.setenv("HOME", "/")  # a container's root home: nothing to shorten
    assert home_spelling(tmp_path / "c") == str(tmp_path / "c")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_path() == tmp_path / "xdg" / "otel-scaffold" / "templates"
    assert is_bundled_source("~/xdg/otel-scaffold/templates")
    assert is_bundled_source(str(tmp_path / "xdg" / "otel-scaffold" / "templates/"))
    assert not is_bundled_source("https://example.com/otel-templates.git")
    assert not is_bundled_source(str(tmp_path / "other"))
    assert release_key("v1.0") == release_key("v1.0.0")
    ordered = ["v0.9.0", "v0.10.0", "v0.10.0.post1", "v1.0.0", "v1.0.0.post2", "v1.0.0.post10"]
    keys = [release_key(tag) for tag in ordered]
    assert None not in keys and sorted(ordered, key=lambda t: release_key(t) or ((), -1)) == ordered
    for not_a_release in ("1.0.0", "v1.0.0rc1", "v1.0.0.dev1", "nightly", "v1.0.0+local"):
        assert release_key(not_a_release) is None
