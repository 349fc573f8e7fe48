"""Render + compile tier for Rust: the real toolchain on rendered crates, one shared target dir."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scaffold.questions import BOUNDARIES

from .conftest import render, require_tool, run
from .toolchains import CARGO_ENV, assert_runtime_contract, rust_checks

pytestmark = pytest.mark.compile

# Every render gets its own crate name: cargo keys a crate's build in the shared target directory
# by name, and would otherwise take another render's fresh-looking artifacts for this one's.

COMBINATIONS: dict[str, dict[str, Any]] = {
    "http-only": {"boundaries": ["http_client"]},
    "all-boundaries": {
        "boundaries": list(BOUNDARIES),
        "environment": "prod",
        "exporter_protocol": "http/protobuf",
        "sampling_ratio": "0.25",
    },
}


@pytest.fixture(autouse=True)
def _cargo() -> None:
    require_tool("cargo", "rustfmt", "cargo-clippy")


@pytest.mark.parametrize("combo", COMBINATIONS, ids=list(COMBINATIONS))
def test_rust_service_is_fmt_clippy_clean_and_passes_its_tests(tmp_path: Path, combo: str) -> None:
    dest = tmp_path / "svc"
    render(dest, service_name=f"ledger-{combo}", language="rust", **COMBINATIONS[combo])
    rust_checks(dest)


def test_default_rust_service_runs_and_benchmarks(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    render(dest, service_name="ledger-run", language="rust")
    run(["cargo", "build", "--bin", "ledger-run"], dest, CARGO_ENV, timeout=2400)
    binary = Path(CARGO_ENV["CARGO_TARGET_DIR"]) / "debug" / "ledger-run"
    assert_runtime_contract(binary, "ledger-run", shutdown_deadline_s=5.0)

    # Criterion's test mode runs every benchmark once on the dev profile, which shares the
    # compiled dependencies with `cargo test`; `make bench` measures on the release profile.
    out = run(["cargo", "test", "--bench", "overhead"], dest, CARGO_ENV, timeout=2400)
    cases = re.findall(r"^Testing (.+)\n(?:.*\n)??Success$", out, flags=re.M)
    assert len(cases) >= 5, out
    assert any("bare" in case for case in cases), cases
