"""`scaffold adopt` on Cargo crates: real crates in git repositories, built with cargo.

The compile tests make crates of their own: an axum service on the opentelemetry 0.32 family
with its own `tracing` subscriber, its own OpenTelemetry pipeline and strict lints; a crate whose
own call breaks when its family moves; a workspace; a library crate. Each is adopted, the printed
wiring pasted as printed, then checked, linted, tested or run. The unit tests edit manifests in
Python and need no toolchain (`verify=False`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import tomlkit
import yaml
from click.testing import CliRunner

from scaffold import _cargo
from scaffold.adopt import Adopt, WiringStep
from scaffold.cli import cli
from scaffold.errors import AnswerError, DestinationError, VerifyError
from scaffold.template_repo import init_template_repo
from scaffold.update import ANSWERS_FILE, UpdateService

from .conftest import copier_update_as_renovate, require_tool, run
from .test_adopt import _commit, _git, _repo, _state, _status, _tree, release_everywhere
from .toolchains import CARGO_ENV

# Crate names no other test uses: cargo keys builds in the shared target dir by name.
SHOP = "adopt-shop"
LEGACY = "adopt-legacy-rs"

SHOP_CARGO_TOML = f"""\
[package]
name = "{SHOP}"
version = "0.3.0"
edition = "2021"

# The shop's own dependencies: this comment must survive adopt.
[dependencies]
axum = "0.8"
tokio = {{ version = "1", features = ["macros", "rt-multi-thread", "net"] }} # the runtime
"""

SHOP_LIB = """\
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

SHOP_MAIN = f"""\
use {SHOP.replace("-", "_")}::router;

#[tokio::main]
async fn main() {{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
    axum::serve(listener, router()).await.unwrap();
}}
"""

# An axum service on the opentelemetry 0.32 family, with its own subscriber and its own
# pipeline, and strict lints (pedantic clippy, unsafe code forbidden).
LEGACY_CARGO_TOML = f"""\
[package]
name = "{LEGACY}"
version = "0.1.0"
edition = "2021"

[dependencies]
axum = "0.8"
opentelemetry = "0.32"
# The service's own pipeline, on the 0.32 family.
opentelemetry_sdk = {{ version = "0.32", features = ["rt-tokio"] }}
opentelemetry-semantic-conventions = "0.32"
tokio = {{ version = "1", features = ["macros", "rt-multi-thread", "net", "signal"] }}
tracing = "0.1"
tracing-opentelemetry = "0.33"
tracing-subscriber = "0.3"

[lints.rust]
unsafe_code = "forbid"
missing_docs = "warn"
unreachable_pub = "warn"
unused_qualifications = "warn"
missing_debug_implementations = "warn"
rust_2018_idioms = {{ level = "warn", priority = -1 }}

[lints.clippy]
pedantic = {{ level = "warn", priority = -1 }}
"""

LEGACY_MAIN = """\
//! The legacy service.

use axum::{routing::get, Router};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() {
    let provider = SdkTracerProvider::builder().build();
    let tracer = provider.tracer(opentelemetry_semantic_conventions::SCHEMA_URL);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .init();
    let app = Router::new().route("/orders", get(|| async { "no orders" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
"""

# The same service with the printed wiring pasted in ({placeholders}), its own OpenTelemetry
# pipeline removed as adopt warned: its subscriber keeps its own fmt layer.
LEGACY_WIRED = """\
//! The legacy service.

{module}

use axum::{{routing::get, Router}};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() {{
    {setup}
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        {layers}
        .init();
    {start}
    let app = Router::new()
        .route("/orders", get(|| async {{ "no orders" }}))
        {layer};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on {{}}", listener.local_addr().unwrap());
    axum::serve(listener, app)
        .with_graceful_shutdown(async {{
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            term.recv().await;
        }})
        .await
        .unwrap();
    {exit}
}}
"""

# A crate on opentelemetry 0.27, whose own code names a type 0.28 renamed.
BROKEN = "adopt-broken-rs"
BROKEN_CARGO_TOML = f"""\
[package]
name = "{BROKEN}"
version = "0.1.0"
edition = "2021"

[dependencies]
opentelemetry_sdk = "0.27"
"""

BROKEN_MAIN = """\
fn main() {
    let provider = opentelemetry_sdk::trace::TracerProvider::builder().build();
    drop(provider);
}
"""


@pytest.fixture(autouse=True)
def _shared_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """adopt's own `cargo check` builds in the target directory the tests share."""
    monkeypatch.setenv("CARGO_TARGET_DIR", CARGO_ENV["CARGO_TARGET_DIR"])


def _steps(wiring: Sequence[WiringStep]) -> dict[str, WiringStep]:
    return {step.key: step for step in wiring}


def _code(step: WiringStep) -> str:
    return "\n".join(step.code)


def _crate(path: Path, files: Mapping[str, str]) -> Path:
    """A crate in a git repository, with its Cargo.lock committed as most services do."""
    path.mkdir(parents=True)
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text, encoding="utf-8")
    run(["cargo", "generate-lockfile"], path, CARGO_ENV, timeout=600)
    _git(path, "init", "-q")
    _commit(path)
    return path


def _plain_crate(path: Path, cargo_toml: str = SHOP_CARGO_TOML, lib: bool = True) -> Path:
    """The shop crate without cargo: no lock, for the tests that never build."""
    files = {"Cargo.toml": cargo_toml, "src/main.rs": SHOP_MAIN}
    if lib:
        files["src/lib.rs"] = SHOP_LIB.format(module="")
    return _repo(path, files)


# -- compile tier --------------------------------------------------------------------------------


@pytest.mark.compile
def test_a_crate_on_0_32_with_its_own_subscriber_moves_to_the_family_and_runs(
    tmp_path: Path,
) -> None:
    """The family moves as one, the app keeps its subscriber, strict lints stay clean."""
    require_tool("cargo")
    project = _crate(
        tmp_path / "legacy", {"Cargo.toml": LEGACY_CARGO_TOML, "src/main.rs": LEGACY_MAIN}
    )

    result = Adopt(project).run()

    moved = [
        "opentelemetry 0.32 -> 0.33",
        "opentelemetry_sdk 0.32 -> 0.33",
        "tracing-opentelemetry 0.33 -> 0.34",
        # Not used by the module: its release of the template's line (crates.io index).
        "opentelemetry-semantic-conventions 0.32 -> 0.33",
    ]
    for line in moved:
        assert any(d.startswith(line) for d in result.dependencies), (line, result.dependencies)
    doc = tomlkit.parse((project / "Cargo.toml").read_text())
    deps: Any = doc["dependencies"]
    assert deps["opentelemetry_sdk"]["features"][0] == "rt-tokio", "the crate's features stay"
    assert "criterion" not in doc.get("dev-dependencies", {}), "no bench or test dependencies"
    assert not {"tonic-health", "tower-http", "criterion"} & set(deps)
    assert (
        "# The service's own pipeline, on the 0.32 family.\n"
        in (project / "Cargo.toml").read_text()
    )
    assert result.verified == ("cargo check --all-targets",)
    [warning] = result.warnings  # none from the module under the crate's strict lints
    assert "src/main.rs:15 (tracing_opentelemetry::layer)" in warning
    assert _status(project) == {*result.files, "Cargo.toml", "Cargo.lock"}

    steps = _steps(result.wiring)
    assert steps["module"].code[0].startswith("#[allow(dead_code")
    assert (
        _code(steps["setup"])
        == "let telemetry = telemetry::Telemetry::new(telemetry::Config::default());"
    )
    assert _code(steps["layers"]) == ".with(telemetry.otel_layers())"
    assert _code(steps["start"]) == "let telemetry = telemetry.start();"
    (project / "src" / "main.rs").write_text(
        LEGACY_WIRED.format(**{key: _code(step) for key, step in steps.items()})
    )
    run(["cargo", "fmt"], project, CARGO_ENV)
    run(
        ["cargo", "clippy", "--all-targets", "--", "-D", "warnings"],
        project,
        CARGO_ENV,
        timeout=2400,
    )
    run(["cargo", "build"], project, CARGO_ENV, timeout=2400)

    # It starts beside the app's own subscriber, traces a request, and flushes on the way out.
    target = Path(CARGO_ENV["CARGO_TARGET_DIR"])
    env = {
        **os.environ,
        **CARGO_ENV,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_TRACES_SAMPLER": "always_on",
        "TELEMETRY_ADMIN_ADDR": "off",
    }
    proc = subprocess.Popen(
        [str(target / "debug" / LEGACY)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline() for _ in range(1)]
        while not seen[-1].startswith("listening on ") and seen[-1]:
            seen.append(proc.stdout.readline())
        address = seen[-1].removeprefix("listening on ").strip()
        assert address, seen
        with urllib.request.urlopen(f"http://{address}/orders", timeout=10) as response:
            assert response.read() == b"no orders"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "panicked" not in err and "already been set" not in err
    assert "\tName         : GET /orders" in out, out


@pytest.mark.compile
def test_a_call_the_family_move_breaks_is_named_and_everything_is_put_back(tmp_path: Path) -> None:
    require_tool("cargo")
    project = _crate(
        tmp_path / "broken", {"Cargo.toml": BROKEN_CARGO_TOML, "src/main.rs": BROKEN_MAIN}
    )
    run(["cargo", "check"], project, CARGO_ENV, timeout=2400)  # it builds on 0.27
    before = _state(project)

    with pytest.raises(VerifyError) as caught:
        Adopt(project).run()

    error = caught.value
    assert error.exit_code == 17 and error.command == "cargo check --all-targets"
    assert error.first_error.startswith("src/main.rs:2: ")
    assert "TracerProvider" in error.first_error
    assert "(opentelemetry_sdk 0.27 -> 0.33)" in str(error)
    assert "nothing was changed" in str(error)
    assert _state(project) == before


@pytest.mark.compile
def test_a_workspace_member_is_adopted_by_name_or_from_its_directory(tmp_path: Path) -> None:
    require_tool("cargo")
    member = """\
[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[dependencies]
opentelemetry = {{ workspace = true }}
tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}
"""
    main = 'fn main() {\n    let _ = opentelemetry::global::tracer("x");\n}\n'
    project = _crate(
        tmp_path / "ws",
        {
            "Cargo.toml": (
                '[workspace]\nmembers = ["crates/*"]\nresolver = "2"\n\n'
                '# Shared versions.\n[workspace.dependencies]\nopentelemetry = "0.32"\n'
            ),
            "crates/adopt-ws-api/Cargo.toml": member.format(name="adopt-ws-api"),
            "crates/adopt-ws-api/src/main.rs": main,
            "crates/adopt-ws-worker/Cargo.toml": member.format(name="adopt-ws-worker"),
            "crates/adopt-ws-worker/src/main.rs": main,
        },
    )

    refused = CliRunner().invoke(cli, ["adopt", str(project)])
    assert refused.exit_code == 5 and "--package NAME" in refused.output
    assert "adopt-ws-api, adopt-ws-worker" in refused.output
    unknown = CliRunner().invoke(cli, ["adopt", str(project), "--package", "nope"])
    assert unknown.exit_code == 2 and "adopt-ws-api" in unknown.output

    by_name = CliRunner().invoke(cli, ["adopt", str(project), "--package", "adopt-ws-api"])

    assert by_name.exit_code == 0, by_name.output
    assert "opentelemetry 0.32 -> 0.33 (in [workspace.dependencies])" in by_name.output
    api = project / "crates" / "adopt-ws-api"
    assert (api / ANSWERS_FILE).is_file() and (api / "src" / "telemetry" / "mod.rs").is_file()
    root = (project / "Cargo.toml").read_text()
    assert 'opentelemetry = "0.33"' in root and "# Shared versions." in root
    assert (
        'opentelemetry = { workspace = true, features = ["trace", "metrics", "logs"] }'
        in (api / "Cargo.toml").read_text()
    )
    changed = _status(project)
    assert {"Cargo.toml", "Cargo.lock", "crates/adopt-ws-api/Cargo.toml"} <= changed
    assert not any(p.startswith("crates/adopt-ws-worker/") for p in changed)
    _commit(project, "adopt the api")

    worker = project / "crates" / "adopt-ws-worker"
    in_dir = Adopt(worker).run()

    assert in_dir.path == worker and (worker / ANSWERS_FILE).is_file()
    run(["cargo", "check", "--workspace", "--all-targets"], project, CARGO_ENV, timeout=2400)


@pytest.mark.compile
def test_a_library_crate_gets_the_module_and_the_layer_api(tmp_path: Path) -> None:
    require_tool("cargo")
    lib = """\
//! The shop's domain model.

#![warn(missing_docs)]

/// An order.
#[derive(Debug)]
pub struct Order;
"""
    project = _crate(
        tmp_path / "model",
        {
            "Cargo.toml": '[package]\nname = "adopt-model"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/lib.rs": lib,
        },
    )

    result = Adopt(project).run()

    steps = _steps(result.wiring)
    assert set(steps) == {"module", "layers"}, "no main to wire: the module and the layer API"
    assert _code(steps["module"]) == "pub mod telemetry;"
    assert "adopt_model::telemetry::Telemetry::new" in _code(steps["layers"])
    assert result.warnings == ()
    (project / "src" / "lib.rs").write_text(lib + "\n" + _code(steps["module"]) + "\n")
    run(
        ["cargo", "clippy", "--all-targets", "--", "-D", "warnings"],
        project,
        CARGO_ENV,
        timeout=2400,
    )
    out = run(["cargo", "test"], project, CARGO_ENV, timeout=2400)
    assert "test result: ok" in out


# -- unit: no toolchain --------------------------------------------------------------------------


def test_the_manifest_gains_only_what_the_module_uses_and_keeps_its_text(tmp_path: Path) -> None:
    project = _plain_crate(tmp_path / "shop")
    result = Adopt(project, data={"boundaries": []}, verify=False).run()
    text = (project / "Cargo.toml").read_text()
    doc = tomlkit.parse(text)
    deps: Any = doc["dependencies"]
    # Existing entries keep their version; only the features the module needs are added.
    assert deps["axum"] == "0.8"
    assert list(deps["tokio"]["features"])[:3] == ["macros", "rt-multi-thread", "net"]
    assert {"sync", "time"} <= set(deps["tokio"]["features"])
    assert "# The shop's own dependencies: this comment must survive adopt." in text
    assert "# the runtime" in text
    assert 'edition = "2021"\nrust-version = "1.88"\n' in text  # next to edition, not at the end
    # The module's code needs these; the template's benches and tests need the rest.
    assert {"opentelemetry", "opentelemetry_sdk", "tracing-opentelemetry", "tower"} <= set(deps)
    assert "dev-dependencies" not in doc
    assert not {"criterion", "tonic-health", "tower-http"} & set(deps)
    assert any(d.startswith("tokio: features + ") for d in result.dependencies)
    assert "Cargo.lock" in result.manifests and (project / "Cargo.lock").is_file()
    assert not any(
        f.startswith(("tests/", "benches/", "src/main", "src/lib")) for f in result.files
    )
    steps = _steps(result.wiring)
    assert _code(steps["module"]) == "pub mod telemetry;"
    assert _code(steps["import"]) == "use adopt_shop::telemetry;"
    assert _code(steps["setup"]) == "let telemetry = telemetry::init(telemetry::Config::default());"
    assert "?" not in _code(steps["setup"]), "no assumption that main returns Result"
    summary = "\n".join(result.summary())
    assert "src/telemetry/mod.rs" in summary and "Wire it in:" in summary


def test_rust_package_dir_names_the_module(tmp_path: Path) -> None:
    project = _plain_crate(tmp_path / "p")
    result = CliRunner().invoke(
        cli,
        [
            "adopt",
            str(project),
            "--package-dir",
            "src/otel",
            "--data",
            "boundaries=[]",
            "--no-verify",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "  added     src/otel/mod.rs" in result.output
    assert "src/telemetry" not in result.output
    changed = _status(project)
    assert "src/otel/init.rs" in changed and ANSWERS_FILE in changed
    assert all(
        p.startswith("src/otel/") or p in (ANSWERS_FILE, "Cargo.toml", "Cargo.lock")
        for p in changed
    ), changed
    assert (
        "/// use adopt_shop::otel::{Config, Telemetry};"
        in (project / "src/otel/init.rs").read_text()
    )
    assert "  pub mod otel;\n" in result.output
    assert "  use adopt_shop::otel;\n" in result.output
    assert "  let telemetry = otel::init(otel::Config::default());\n" in result.output
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert answers["telemetry_dir"] == "src/otel" and answers["scope"] == "package"


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
    project = _plain_crate(tmp_path / "p")
    result = CliRunner().invoke(cli, ["adopt", str(project), "--package-dir", value])
    assert result.exit_code != 0
    assert words in result.output, result.output
    assert _status(project) == set()


def test_rust_package_dir_beside_a_module_file_of_that_name_is_refused(tmp_path: Path) -> None:
    project = _plain_crate(tmp_path / "p")
    (project / "src" / "otel.rs").write_text("//! The shop's own otel helpers.\n")
    _commit(project)
    before = _tree(project)
    with pytest.raises(DestinationError, match=r"src/otel\.rs already exists"):
        Adopt(project, data={"telemetry_dir": "src/otel"}).run()
    assert _tree(project) == before


def test_an_old_rust_edition_is_refused_with_what_to_do(tmp_path: Path) -> None:
    project = _plain_crate(tmp_path / "p", SHOP_CARGO_TOML.replace('edition = "2021"\n', ""))
    with pytest.raises(DestinationError, match=r"edition 2015.*cargo fix --edition"):
        Adopt(project).run()
    assert _status(project) == set()


def test_a_binary_only_crate_declares_the_module_as_a_toolkit(tmp_path: Path) -> None:
    project = _plain_crate(tmp_path / "bin", lib=False)
    result = Adopt(project, data={"boundaries": []}, verify=False).run()
    steps = _steps(result.wiring)
    assert steps["module"].code == (
        '#[allow(dead_code, unused_imports, unreachable_pub, reason = "a toolkit: the service '
        'uses what it needs")]',
        "mod telemetry;",
    )
    assert "import" not in steps


def test_family_crates_and_requirements(tmp_path: Path) -> None:
    assert _cargo._same_bucket("0.33", "^0.33.1") and not _cargo._same_bucket("0.32", "0.33")
    assert _cargo._same_bucket("1", "1.4") and not _cargo._same_bucket("1", "2")
    for name in (
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry-otlp",
        "tracing-opentelemetry",
    ):
        assert _cargo._in_family(name), name
    assert not _cargo._in_family("tracing-subscriber")


@pytest.mark.parametrize("how", ["scaffold", "copier"])
def test_a_release_reaches_an_adopted_crate_and_changes_nothing_of_its_own(
    tmp_path: Path, how: str
) -> None:
    """The crate's own src/main.rs, src/lib.rs and README.md share the template's paths."""
    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    project = _plain_crate(tmp_path / "shop")
    (project / "README.md").write_text("# The shop\n")
    _commit(project, "readme")
    Adopt(project, template=str(template), verify=False).run()
    _commit(project, "adopt otel-scaffold telemetry")
    before = _tree(project)
    release_everywhere(template)

    if how == "scaffold":
        result = UpdateService(project).run()
        assert result.conflicts == () and result.to_version == "v2.0.0"
    else:
        copier_update_as_renovate(project, "v2.0.0")

    changed = _status(project)
    assert "src/telemetry/defaults.rs" in changed and ANSWERS_FILE in changed
    assert all(p.startswith("src/telemetry/") or p == ANSWERS_FILE for p in changed), changed
    after = _tree(project)
    for own in ("src/main.rs", "src/lib.rs", "README.md", "Cargo.toml", "Cargo.lock"):
        assert after[own] == before[own], own
    for absent in ("tests", "benches", "src/app", ".gitignore"):
        assert not (project / absent).exists(), absent


def test_a_workspace_root_without_package_says_which_members(tmp_path: Path) -> None:
    project = _repo(tmp_path / "ws", {"Cargo.toml": "[workspace]\nmembers = []\n"})
    with pytest.raises(DestinationError, match="--package NAME"):
        Adopt(project, language="rust").run()
    with pytest.raises((AnswerError, DestinationError)):
        Adopt(project, language="rust", package="nope").run()


def test_an_update_that_needs_a_new_crate_adds_it_to_cargo_toml(tmp_path: Path) -> None:
    from .test_adopt import release_a_new_dependency

    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    project = _plain_crate(tmp_path / "shop")
    Adopt(project, template=str(template), data={"boundaries": []}, verify=False).run()
    _commit(project, "adopt otel-scaffold telemetry")
    release_a_new_dependency(template)

    result = UpdateService(project).run()

    assert result.conflicts == ()
    assert "itoa 1 (added to [dependencies])" in result.dependencies
    kinds = {change.path: change.kind for change in result.files}
    assert kinds["src/telemetry/ids.rs"] == "added" and kinds["Cargo.toml"] == "modified"
    text = (project / "Cargo.toml").read_text()
    assert 'itoa = "1"' in text and "# The shop's own dependencies" in text
    assert all(
        p.startswith("src/telemetry/") or p in (ANSWERS_FILE, "Cargo.toml")
        for p in _status(project)
    )
