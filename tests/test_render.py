"""Render tier (no toolchains): every combination renders clean code that carries the policy."""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import pytest
import yaml

from scaffold.questions import BOUNDARIES
from scaffold.templates import find_residue

from .conftest import ROOT, render, require_tool, run
from .toolchains import CARGO_ENV, go_checks, rust_checks

# Which boundaries bring which file, per language.
BOUNDARY_FILES = {
    "go": {
        "internal/telemetry/client.go": {"http_client"},
        "internal/telemetry/grpc.go": {"grpc_server", "grpc_client"},
        "internal/telemetry/database.go": {"database"},
        "internal/telemetry/messaging.go": {"messaging"},
        "cmd/orders/call.go": {"http_client"},
        "cmd/orders/greeter.go": {"grpc_server", "grpc_client"},
        "cmd/orders/standin_db.go": {"database"},
        "cmd/orders/queue.go": {"messaging"},
    },
    "rust": {
        "src/telemetry/http_client.rs": {"http_client"},
        "src/telemetry/database.rs": {"database"},
        "src/telemetry/messaging.rs": {"messaging"},
        "src/app/greeter.rs": {"grpc_server", "grpc_client"},
        "src/app/store.rs": {"database"},
        "src/app/queue.rs": {"messaging"},
    },
}


def assert_clean(root: Path) -> None:
    """The residue rule of `scaffold template check`, as a test assertion."""
    problems = find_residue(root)
    assert not problems, "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("language", ["go", "rust"])
@pytest.mark.parametrize("size", [0, 1, 2, len(BOUNDARIES)])
def test_boundary_combinations_render_clean(tmp_path: Path, size: int, language: str) -> None:
    for index, chosen in enumerate(itertools.combinations(BOUNDARIES, size)):
        dest = tmp_path / f"svc{index}"
        render(dest, service_name="orders", language=language, boundaries=list(chosen))
        assert_clean(dest)
        for file, bringers in BOUNDARY_FILES[language].items():
            assert (dest / file).exists() == bool(bringers & set(chosen)), f"{file} with {chosen}"
        if language == "go":
            go_mod = (dest / "go.mod").read_text(encoding="utf-8")
            assert ("otelgrpc" in go_mod) == any(b.startswith("grpc") for b in chosen)
            assert ("otelsql" in go_mod) == ("database" in chosen)
        else:
            cargo = (dest / "Cargo.toml").read_text(encoding="utf-8")
            assert 'name = "orders"' in cargo


def test_go_service_carries_the_policy(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    render(dest, service_name="orders", language="go", environment="prod")
    code = "\n".join(p.read_text(encoding="utf-8") for p in dest.rglob("*.go"))
    policy = yaml.safe_load((ROOT / "templates" / "policy.yml").read_text(encoding="utf-8"))
    for attribute in policy["attributes"]:
        assert f'attribute.Key("{attribute["name"]}")' in code
    assert "AcmeTenantIDKey" in code
    for header in policy["http"]["redacted_headers"]:
        assert f'"{header}"' in code
    for route in policy["http"]["untraced_routes"]:
        assert f'"{route}"' in code
    assert '"{method} {route}"' in code
    # The whole sampling table, not only the ratio of the rendered environment.
    for env, ratio in policy["sampling"]["environments"].items():
        assert re.search(rf'"{env}":\s+{ratio},', code), env
    assert f"defaultRatio = {policy['sampling']['ratio']}" in code


def test_policy_change_reaches_generated_code(tmp_path: Path) -> None:
    template = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", template)
    policy = template / "policy.yml"
    text = policy.read_text(encoding="utf-8")
    text = text.replace("    prod: 1.0\n", "    prod: 0.37\n").replace(
        "  timeout_ms: 5000", "  timeout_ms: 6543"
    )
    text = text.replace(
        "  - name: acme.tenant.id\n",
        "  - name: acme.cost.center\n    type: string\n    brief: Cost centre billed.\n  - name: acme.tenant.id\n",
    )
    policy.write_text(text, encoding="utf-8")
    dest = tmp_path / "svc"
    render(dest, template=str(template), service_name="orders", language="go", environment="prod")
    code = "\n".join(p.read_text(encoding="utf-8") for p in dest.rglob("*.go"))
    assert '"prod":    0.37,' in code
    assert "6543 * time.Millisecond" in code
    assert "AcmeCostCenterKey" in code and '"acme.cost.center"' in code
    # The policy itself is never frozen into the answers file.
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert not {"policy", "policy_document", "effective_sampling_ratio"} & set(answers)
    assert answers["sampling_ratio"] == ""


def _go_files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*.go")
    }


def test_go_telemetry_package_renders_at_the_chosen_directory(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    render(
        dest,
        service_name="orders",
        language="go",
        telemetry_dir="pkg/otel",
        boundaries=list(BOUNDARIES),
    )
    assert_clean(dest)
    assert not (dest / "internal").exists()
    files = _go_files(dest)
    package = sorted(f for f in files if f.startswith("pkg/otel/"))
    assert "pkg/otel/setup.go" in package and "pkg/otel/grpc_test.go" in package
    commands = {f for f in files if f.startswith("cmd/orders/")}
    assert set(files) == {*package, *commands} and "cmd/orders/main.go" in commands
    # Still package telemetry, imported under that name from its new path.
    for name in package:
        assert re.search(r"^package telemetry(_test)?$", files[name], re.M), name
    importers = [n for n, code in files.items() if "github.com/acme/orders/pkg/otel" in code]
    assert "cmd/orders/main.go" in importers and "pkg/otel/setup_test.go" in importers
    for name in importers:
        code = files[name]
        assert "internal/telemetry" not in code, name
        if name != "pkg/otel/version.go":
            assert '\ttelemetry "github.com/acme/orders/pkg/otel"\n' in code, name
    assert 'ScopeName = "github.com/acme/orders/pkg/otel"' in files["pkg/otel/version.go"]
    readme = (dest / "README.md").read_text(encoding="utf-8")
    assert "`pkg/otel` holds all of it" in readme and "./pkg/otel\n" in readme
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["telemetry_dir"] == "pkg/otel"


def test_default_telemetry_dir_is_recorded_and_imported_plainly(tmp_path: Path) -> None:
    for language, package in (("go", "internal/telemetry"), ("rust", "src/telemetry")):
        dest = tmp_path / language
        render(dest, service_name="orders", language=language)
        answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
        assert answers["telemetry_dir"] == package
        assert (dest / package).is_dir()
    main = (tmp_path / "go" / "cmd" / "orders" / "main.go").read_text(encoding="utf-8")
    assert '\t"github.com/acme/orders/internal/telemetry"\n' in main


@pytest.mark.compile
def test_go_service_with_a_nested_telemetry_dir_builds_vets_and_tests(tmp_path: Path) -> None:
    require_tool("go", "gofmt")
    dest = tmp_path / "svc"
    render(
        dest,
        service_name="otel-dir",
        language="go",
        telemetry_dir="pkg/platform/otel",
        boundaries=list(BOUNDARIES),
    )
    assert (dest / "pkg" / "platform" / "otel" / "setup.go").is_file()
    go_checks(dest)


def _rust_files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in root.rglob("*")
        if p.suffix in (".rs", ".md") and p.is_file()
    }


@pytest.mark.parametrize("module", ["otel", "aotel"])
def test_rust_telemetry_module_renders_at_the_chosen_directory(tmp_path: Path, module: str) -> None:
    """`src/NAME` is the module NAME: every path to it in code, tests, benches and docs says so."""
    dest = tmp_path / "svc"
    render(
        dest,
        service_name="orders",
        language="rust",
        telemetry_dir=f"src/{module}",
        boundaries=list(BOUNDARIES),
    )
    assert_clean(dest)
    assert not (dest / "src" / "telemetry").exists()
    assert (dest / "src" / module / "mod.rs").is_file()
    files = _rust_files(dest)
    for name, code in files.items():
        assert not re.search(r"(?<![\w.])telemetry::|mod telemetry\b", code), name
    for name in ("src/app/mod.rs", "src/lib.rs", "src/main.rs", "tests/sdk_disabled.rs"):
        assert f"{module}::" in files[name] or f"mod {module};" in files[name], name
    assert f"use orders::{module}::{{self, Config" in files["src/main.rs"]
    assert f"`src/{module}`](src/{module}/mod.rs)" in files["README.md"]
    # rustfmt orders the crate's own modules and imports: `aotel` comes before `app`.
    mods = re.findall(r"^pub mod (\w+);$", files["src/lib.rs"], re.M)
    assert mods == sorted(["app", module])
    uses = re.findall(r"^use orders::(\w+)", files["src/main.rs"], re.M)
    assert uses == sorted(uses) and set(uses) == {"app", module}
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["telemetry_dir"] == f"src/{module}"
    assert "telemetry_module" not in answers


@pytest.mark.compile
def test_rust_service_with_a_renamed_telemetry_module_is_clean_and_passes_its_tests(
    tmp_path: Path,
) -> None:
    require_tool("cargo", "rustfmt", "cargo-clippy")
    dest = tmp_path / "svc"
    render(
        dest,
        service_name="otel-module",
        language="rust",
        telemetry_dir="src/otel",
        boundaries=list(BOUNDARIES),
    )
    assert (dest / "src" / "otel" / "init.rs").is_file()
    # The doc examples import the module by its name too; `cargo test` runs them.
    config = (dest / "src" / "otel" / "config.rs").read_text(encoding="utf-8")
    assert "/// use otel_module::otel::Config;" in config
    rust_checks(dest)
    # A module sorting before `app` renders in rustfmt's order too.
    first = tmp_path / "first"
    render(first, service_name="otel-first", language="rust", telemetry_dir="src/aotel")
    run(["cargo", "fmt", "--check"], first, CARGO_ENV)
