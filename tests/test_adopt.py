"""`scaffold adopt`: the telemetry package added to an existing Go module or Cargo crate.

The compile tests make a small project of their own (a net/http server, an axum server, each
with a test), commit it, adopt, apply the printed wiring, and build and test it. The unit tests
need no toolchain: every refusal happens before anything is written, and the Rust manifest is
edited in Python.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import tomlkit
import yaml
from click.testing import CliRunner

import scaffold.adopt as adopt_module
from scaffold.adopt import Adopt, AdoptResult, detect_language, go_version_key, service_name_of
from scaffold.cli import cli
from scaffold.errors import AnswerError, DestinationError, DirtyRepoError, GitError
from scaffold.template_repo import init_template_repo
from scaffold.update import ANSWERS_FILE, UpdateService

from .conftest import require_tool, run
from .toolchains import CARGO_ENV, GO_ENV

GO_MOD = "module example.com/shop/orders\n\ngo 1.24\n"

GO_MAIN = """\
package main

import (
{imports}
\t"log"
\t"net/http"
)

func newMux() *http.ServeMux {{
\tmux := http.NewServeMux()
\tmux.HandleFunc("GET /orders", func(w http.ResponseWriter, _ *http.Request) {{
\t\t_, _ = w.Write([]byte("no orders"))
\t}})
\treturn mux
}}

func main() {{
\tmux := newMux()
\tvar handler http.Handler = mux
{setup}
\tlog.Fatal(http.ListenAndServe(":8080", handler))
}}
"""

GO_TEST = """\
package main

import (
\t"net/http"
\t"net/http/httptest"
\t"testing"
)

func TestOrders(t *testing.T) {
\trec := httptest.NewRecorder()
\tnewMux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders", nil))
\tif rec.Code != http.StatusOK || rec.Body.String() != "no orders" {
\t\tt.Fatalf("got %d %q", rec.Code, rec.Body.String())
\t}
}
"""

# A crate name no other test uses: cargo keys builds in the shared target dir by name.
CRATE = "adopt-shop"
CARGO_TOML = f"""\
[package]
name = "{CRATE}"
version = "0.3.0"
edition = "2021"

# The shop's own dependencies: this comment must survive adopt.
[dependencies]
axum = "0.8"
tokio = {{ version = "1", features = ["macros", "rt-multi-thread", "net"] }} # the runtime
"""

LIB_RS = """\
//! The shop.
{module}
use axum::{{Router, routing::get}};

/// The shop's routes.
pub fn router() -> Router {{
    Router::new().route("/orders", get(orders))
}}

async fn orders() -> &'static str {{
    "no orders"
}}

#[cfg(test)]
mod tests {{
    #[tokio::test]
    async fn orders_answers() {{
        assert_eq!(super::orders().await, "no orders");
    }}
}}
"""

MAIN_RS = """\
{imports}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {{
{setup}
    let app = {app};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    axum::serve(listener, app).await?;
    Ok(())
}}
"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def _commit(path: Path, message: str = "import") -> None:
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", message)


def _go_project(path: Path, module: str = "example.com/shop/orders") -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    (path / "go.mod").write_text(GO_MOD.replace("example.com/shop/orders", module))
    (path / "main.go").write_text(GO_MAIN.format(imports="", setup=""))
    (path / "main_test.go").write_text(GO_TEST)
    _commit(path)
    return path


def _rust_project(path: Path, cargo_toml: str = CARGO_TOML) -> Path:
    (path / "src").mkdir(parents=True)
    _git(path, "init", "-q")
    (path / "Cargo.toml").write_text(cargo_toml)
    (path / "src" / "lib.rs").write_text(LIB_RS.format(module=""))
    imports = f"use {CRATE.replace('-', '_')}::router;"
    (path / "src" / "main.rs").write_text(MAIN_RS.format(imports=imports, setup="", app="router()"))
    _commit(path)
    return path


def _code(line: str) -> str:
    """A wiring line without its trailing `// where` comment."""
    return line.split("  //")[0].strip()


def _status(path: Path) -> set[str]:
    return {
        line[3:]
        for line in _git(path, "status", "--porcelain", "--untracked-files=all").splitlines()
    }


def _tree(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in path.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(path).parts
    }


# -- compile tier ------------------------------------------------------------------------------


@pytest.mark.compile
def test_adopt_into_an_existing_go_module_builds_and_tests(tmp_path: Path) -> None:
    require_tool("go")
    project = _go_project(tmp_path / "orders")

    result = Adopt(project).run()

    assert result.language == "go"
    assert result.answers["service_name"] == "orders"
    assert result.answers["module"] == "example.com/shop/orders"
    assert "internal/telemetry/setup.go" in result.files
    assert ANSWERS_FILE in result.files
    assert not any(f.startswith(("cmd/", "README")) for f in result.files)
    assert any(d.startswith("go.opentelemetry.io/otel ") for d in result.dependencies)
    assert "go.mod" in result.manifests
    # Only the telemetry package, the answers file and the module files changed.
    changed = _status(project)
    assert changed == {*result.files, *result.manifests}, changed
    assert "go 1.26" in (project / "go.mod").read_text()
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert answers["module"] == "example.com/shop/orders"
    assert answers["_src_path"]

    # Apply the printed wiring, exactly as printed.
    wiring = [_code(line) for line in result.wiring]
    assert wiring[0] == 'import "example.com/shop/orders/internal/telemetry"'
    _wire_go(project, wiring)

    run(["go", "build", "./..."], project, GO_ENV)
    run(["go", "vet", "./..."], project, GO_ENV)
    out = run(["go", "test", "./..."], project, GO_ENV)
    assert "example.com/shop/orders/internal/telemetry" in out, out


@pytest.mark.compile
def test_adopt_into_an_existing_cargo_crate_builds_and_tests(tmp_path: Path) -> None:
    require_tool("cargo")
    project = _rust_project(tmp_path / "shop")

    result = Adopt(project).run()

    assert result.language == "rust"
    assert result.answers["service_name"] == CRATE
    assert "src/telemetry/mod.rs" in result.files
    assert not any(
        f in result.files for f in ("src/main.rs", "src/lib.rs", "src/app.rs", "README.md")
    )
    assert not any(f.startswith(("tests/", "benches/")) for f in result.files)
    assert _status(project) == {*result.files, *result.manifests}
    manifest = (project / "Cargo.toml").read_text()
    # The crate's own text survives: comments, its entries, its layout.
    head = CARGO_TOML.split("[dependencies]")[0]
    assert manifest.startswith(head.replace('"2021"\n', '"2021"\nrust-version = "1.88"\n'))
    assert "# The shop's own dependencies: this comment must survive adopt." in manifest
    assert 'axum = "0.8"\n' in manifest
    assert "# the runtime" in manifest
    doc = tomlkit.parse(manifest)
    assert doc["package"]["edition"] == "2021"
    assert "opentelemetry" in doc["dependencies"]
    assert "opentelemetry_sdk" in doc["dev-dependencies"]

    wiring = [_code(line) for line in result.wiring]
    assert wiring[0] == "pub mod telemetry;"
    (project / "src" / "lib.rs").write_text(LIB_RS.format(module=wiring[0]))
    imports = f"use {CRATE.replace('-', '_')}::router;\n{wiring[1]}"
    app = f"router(){wiring[3]}"
    (project / "src" / "main.rs").write_text(
        MAIN_RS.format(imports=imports, setup=f"    {wiring[2]}", app=app)
    )

    run(["cargo", "build"], project, CARGO_ENV, timeout=2400)
    out = run(["cargo", "test"], project, CARGO_ENV, timeout=2400)
    assert "orders_answers ... ok" in out, out


def _wire_go(project: Path, wiring: list[str]) -> None:
    """Write main.go with the printed wiring applied, exactly as printed."""
    imports = '\t"context"\n\n\t' + wiring[0].removeprefix("import ")
    setup = "\tctx := context.Background()\n" + "\n".join(
        f"\t{line}" + ("\n\tif err != nil {\n\t\tlog.Fatal(err)\n\t}" if "Setup" in line else "")
        for line in wiring[1:]
    )
    (project / "main.go").write_text(GO_MAIN.format(imports=imports, setup=setup))
    run(["gofmt", "-w", "main.go"], project)


@pytest.mark.compile
def test_adopt_with_a_package_dir_builds_and_updates_in_place(tmp_path: Path) -> None:
    from .test_update import V2_RATIO, _release_v2

    require_tool("go")
    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    project = _go_project(tmp_path / "orders")

    adopted = CliRunner().invoke(
        cli, ["adopt", str(project), "--template", str(template), "--package-dir", "internal/otel"]
    )

    assert adopted.exit_code == 0, adopted.output
    assert "  added     internal/otel/setup.go\n" in adopted.output
    assert not (project / "internal" / "telemetry").exists()
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert answers["telemetry_dir"] == "internal/otel"
    printed = adopted.output.split("Wire it in:\n")[1].split("\nThen build")[0].splitlines()
    wiring = [_code(line) for line in printed]
    assert wiring[0] == 'import telemetry "example.com/shop/orders/internal/otel"'
    _wire_go(project, wiring)
    run(["go", "build", "./..."], project, GO_ENV)
    run(["go", "vet", "./..."], project, GO_ENV)
    out = run(["go", "test", "./..."], project, GO_ENV)
    assert "example.com/shop/orders/internal/otel" in out, out
    _commit(project, "adopt otel-scaffold telemetry at internal/otel")
    main_go = (project / "main.go").read_bytes()

    _release_v2(template)
    updated = UpdateService(project).run()

    assert updated.to_version == "v2.0.0"
    assert updated.conflicts == ()
    changed = {change.path for change in updated.files}
    assert "internal/otel/policy.go" in changed
    assert all(p.startswith("internal/otel/") or p == ANSWERS_FILE for p in changed), changed
    assert not (project / "internal" / "telemetry").exists()
    assert not (project / "cmd").exists()
    assert f'"dev":     {V2_RATIO},' in (project / "internal/otel/policy.go").read_text()
    assert yaml.safe_load((project / ANSWERS_FILE).read_text())["telemetry_dir"] == "internal/otel"
    assert (project / "main.go").read_bytes() == main_go
    run(["go", "build", "./..."], project, GO_ENV)


# -- unit: no toolchain --------------------------------------------------------------------------


def test_language_is_detected_or_asked_for(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(GO_MOD)
    assert detect_language(tmp_path) == "go"
    (tmp_path / "Cargo.toml").write_text(CARGO_TOML)
    with pytest.raises(AnswerError, match="--lang"):
        detect_language(tmp_path)
    assert detect_language(tmp_path, "rust") == "rust"
    (tmp_path / "go.mod").unlink()
    assert detect_language(tmp_path) == "rust"
    (tmp_path / "Cargo.toml").unlink()
    with pytest.raises(AnswerError, match=r"neither go\.mod nor Cargo\.toml"):
        detect_language(tmp_path)
    with pytest.raises(DestinationError, match=r"no go\.mod"):
        detect_language(tmp_path, "go")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("example.com/shop/orders", "orders"),
        ("example.com/shop/orders/v2", "orders"),
        ("github.com/acme/payments-api/v10", "payments-api"),
        ("example.com/single", "single"),
    ],
)
def test_service_name_is_the_last_module_element(module: str, name: str) -> None:
    assert service_name_of(module) == name


def test_go_versions_compare_numerically() -> None:
    assert go_version_key("v1.10.0") > go_version_key("v1.9.9")
    assert go_version_key("v1.2.3") > go_version_key("v1.2.3-rc.1")
    assert go_version_key("v0.0.0-20260928230214-8a89bd6388cc") > go_version_key(
        "v0.0.0-20250101000000-000000000000"
    )
    assert go_version_key("1.26.0") > go_version_key("1.24")


def test_an_invalid_derived_name_says_which_flag_to_pass(tmp_path: Path) -> None:
    project = _go_project(tmp_path / "p", module="example.com/shop/Orders_API")
    with pytest.raises(AnswerError, match="--data service_name="):
        Adopt(project).run()
    assert _status(project) == set()


def test_not_a_git_repository_or_no_commit(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "go.mod").write_text(GO_MOD)
    with pytest.raises(GitError, match="not in a git repository") as info:
        Adopt(tmp_path / "p").run()
    assert "git init" in str(info.value)
    _git(tmp_path / "p", "init", "-q")
    with pytest.raises(GitError, match="no commits"):
        Adopt(tmp_path / "p").run()


def test_dirty_tree_is_refused_and_left_alone(tmp_path: Path) -> None:
    project = _go_project(tmp_path / "p")
    (project / "main.go").write_text("package main\n")
    (project / "notes.txt").write_text("untracked counts too\n")
    before = _tree(project)
    with pytest.raises(DirtyRepoError) as info:
        Adopt(project).run()
    assert set(info.value.files) == {"main.go", "notes.txt"}
    assert _tree(project) == before


def test_existing_target_files_are_listed_and_nothing_is_written(tmp_path: Path) -> None:
    project = _go_project(tmp_path / "p")
    (project / "internal" / "telemetry").mkdir(parents=True)
    (project / "internal" / "telemetry" / "setup.go").write_text("package telemetry\n")
    (project / "internal" / "telemetry" / "http.go").write_text("package telemetry\n")
    _commit(project)
    before = _tree(project)
    with pytest.raises(DestinationError, match="never overwrites") as info:
        Adopt(project).run()
    assert "internal/telemetry/http.go" in str(info.value)
    assert "internal/telemetry/setup.go" in str(info.value)
    assert "2 file(s)" in str(info.value)
    assert _tree(project) == before


def test_an_already_generated_project_points_to_update(tmp_path: Path) -> None:
    project = _go_project(tmp_path / "p")
    (project / ANSWERS_FILE).write_text("_src_path: somewhere\n")
    _commit(project)
    with pytest.raises(DestinationError, match="scaffold update"):
        Adopt(project).run()


def test_a_module_other_than_go_mod_is_refused(tmp_path: Path) -> None:
    project = _go_project(tmp_path / "p")
    with pytest.raises(AnswerError, match=r"module path of go\.mod"):
        Adopt(project, data={"module": "example.com/other"}).run()


def test_an_old_rust_edition_is_refused_with_what_to_do(tmp_path: Path) -> None:
    project = _rust_project(tmp_path / "p", CARGO_TOML.replace('edition = "2021"\n', ""))
    with pytest.raises(DestinationError, match=r"edition 2015.*cargo fix --edition"):
        Adopt(project).run()
    assert _status(project) == set()


def test_a_failure_after_writing_puts_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _go_project(tmp_path / "p")
    before = _tree(project)

    def broken(path: Path, *_: Any) -> Any:
        (path / "go.mod").write_text("garbage\n")
        raise GitError("boom")

    monkeypatch.setattr(adopt_module, "_require_go", lambda: None)
    monkeypatch.setattr(adopt_module, "_go_dependencies", broken)
    with pytest.raises(GitError, match="boom"):
        Adopt(project).run()
    assert _tree(project) == before
    assert not (project / "internal").exists()


def test_package_dir_moves_the_files_and_the_printed_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _go_project(tmp_path / "p")
    monkeypatch.setattr(adopt_module, "_require_go", lambda: None)
    monkeypatch.setattr(adopt_module, "_go_dependencies", lambda *_: ([], []))

    result = Adopt(project, data={"telemetry_dir": "pkg/otel"}).run()

    assert "pkg/otel/setup.go" in result.files
    assert all(f.startswith("pkg/otel/") or f == ANSWERS_FILE for f in result.files)
    assert not (project / "internal").exists()
    assert result.answers["telemetry_dir"] == "pkg/otel"
    assert result.wiring[0] == 'import telemetry "example.com/shop/orders/pkg/otel"'
    assert "  added     pkg/otel/http.go" in result.summary()


@pytest.mark.parametrize(
    ("value", "words"),
    [("cmd/otel", "under cmd/"), ("internal/Otel", "not a Go package directory")],
)
def test_a_bad_package_dir_is_refused_before_writing(
    tmp_path: Path, value: str, words: str
) -> None:
    project = _go_project(tmp_path / "p")
    with pytest.raises(AnswerError, match=words):
        Adopt(project, data={"telemetry_dir": value}).run()
    assert _status(project) == set()


def test_a_package_dir_holding_other_go_files_is_refused(tmp_path: Path) -> None:
    project = _go_project(tmp_path / "p")
    (project / "internal" / "otel").mkdir(parents=True)
    (project / "internal" / "otel" / "otel.go").write_text("package otel\n")
    _commit(project)
    before = _tree(project)
    with pytest.raises(
        DestinationError, match=r"internal/otel already holds Go files \(otel\.go\)"
    ):
        Adopt(project, data={"telemetry_dir": "internal/otel"}).run()
    assert _tree(project) == before


def test_rust_package_dir_names_the_module(tmp_path: Path) -> None:
    project = _rust_project(tmp_path / "p")
    result = CliRunner().invoke(
        cli, ["adopt", str(project), "--package-dir", "src/otel", "--data", "boundaries=[]"]
    )
    assert result.exit_code == 0, result.output
    assert "  added     src/otel/mod.rs" in result.output
    assert "src/telemetry" not in result.output
    assert not (project / "src" / "telemetry").exists()
    changed = _status(project)
    assert "src/otel/init.rs" in changed and ANSWERS_FILE in changed
    assert all(
        p.startswith("src/otel/") or p in (ANSWERS_FILE, "Cargo.toml", "Cargo.lock")
        for p in changed
    ), changed
    code = (project / "src" / "otel" / "config.rs").read_text()
    assert "/// use adopt_shop::otel::Config;" in code
    assert "pub mod otel;  // in src/lib.rs" in result.output
    assert "use adopt_shop::otel;  // in src/main.rs" in result.output
    assert "let _telemetry = otel::init(otel::Config::default());" in result.output
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert answers["telemetry_dir"] == "src/otel"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("src/Otel", "not a Rust module directory"),
        ("src/otel/inner", "not a Rust module directory"),
        ("internal/otel", "not a Rust module directory"),
        ("src/tracing", "is taken"),
        ("src/adopt_shop", "is taken"),
    ],
)
def test_rust_bad_package_dir_is_refused_before_writing(
    tmp_path: Path, value: str, words: str
) -> None:
    project = _rust_project(tmp_path / "p")
    result = CliRunner().invoke(cli, ["adopt", str(project), "--package-dir", value])
    assert result.exit_code != 0
    assert words in result.output, result.output
    assert _status(project) == set()


def test_rust_package_dir_beside_a_module_file_of_that_name_is_refused(tmp_path: Path) -> None:
    project = _rust_project(tmp_path / "p")
    (project / "src" / "otel.rs").write_text("//! The shop's own otel helpers.\n")
    _commit(project)
    before = _tree(project)
    with pytest.raises(DestinationError, match=r"src/otel\.rs already exists"):
        Adopt(project, data={"telemetry_dir": "src/otel"}).run()
    assert _tree(project) == before


def test_rust_manifest_edit_keeps_the_crate_and_adds_what_is_missing(tmp_path: Path) -> None:
    project = _rust_project(tmp_path / "p")
    result = Adopt(project, data={"boundaries": []}).run()
    text = (project / "Cargo.toml").read_text()
    doc = tomlkit.parse(text)
    deps: Any = doc["dependencies"]
    # Existing entries keep their version; only the features the telemetry code needs are added.
    assert deps["axum"] == "0.8"
    assert list(deps["tokio"]["features"])[:3] == ["macros", "rt-multi-thread", "net"]
    assert {"sync", "time"} <= set(deps["tokio"]["features"])
    assert "reqwest" in deps  # the remote sampler fetches strategies over HTTP
    assert 'edition = "2021"\nrust-version = "1.88"\n' in text  # next to edition, not at the end
    assert not result.notes[1:], result.notes  # only the rust-version note
    assert any(d.startswith("tokio: features + ") for d in result.dependencies)
    assert "Cargo.lock" in result.manifests and (project / "Cargo.lock").is_file()
    assert result.wiring[0].startswith("pub mod telemetry;")
    assert result.wiring[1].startswith("use adopt_shop::telemetry;")
    summary = "\n".join(result.summary())
    assert "src/telemetry/mod.rs" in summary and "Wire it in:" in summary


def test_adopted_project_updates_to_v2_and_keeps_unadopted_files_absent(
    tmp_path: Path,
) -> None:
    from .test_update import V2_RATIO, _release_v2

    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    project = _rust_project(tmp_path / "shop")
    result: AdoptResult = Adopt(project, template=str(template)).run()
    assert result.ref == "v1.0.0"
    _commit(project, "adopt otel-scaffold telemetry")
    own = {p: (project / p).read_bytes() for p in ("src/main.rs", "src/lib.rs", "Cargo.toml")}
    _release_v2(template)

    updated = UpdateService(project).run()

    assert updated.to_version == "v2.0.0"
    assert updated.conflicts == ()
    changed = {change.path for change in updated.files}
    assert changed and all(p.startswith("src/telemetry/") or p == ANSWERS_FILE for p in changed)
    for absent in ("README.md", "src/app.rs", "tests", "benches", ".gitignore"):
        assert not (project / absent).exists(), absent
    assert {p: (project / p).read_bytes() for p in own} == own
    defaults = (project / "src" / "telemetry" / "defaults.rs").read_text()
    assert V2_RATIO in defaults


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("internal", "outside"),  # a directory adopt writes the package into
        ("go.mod", "outside/go.mod"),  # a manifest adopt edits
    ],
)
def test_a_symbolic_link_out_of_the_repository_is_never_written_through(
    tmp_path: Path, link: str, target: str
) -> None:
    project = _go_project(tmp_path / "p")
    outside = tmp_path / "outside"
    outside.mkdir()
    if link == "go.mod":
        (project / "go.mod").rename(outside / "go.mod")
    (project / link).symlink_to(Path("..") / target)
    _commit(project, "link to a shared place")
    before, outside_before = _tree(project), _tree(outside)

    with pytest.raises(DestinationError, match="lead out of the repository") as info:
        Adopt(project).run()

    assert link in str(info.value) and str(outside.resolve()) in str(info.value)
    assert _tree(outside) == outside_before, "nothing written outside the repository"
    assert _tree(project) == before and _status(project) == set()
