"""Render + compile tier for Rust: the real toolchain on rendered crates, one shared target dir."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaffold.questions import BOUNDARIES

from .conftest import ROOT, render, require_tool, run
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

# A sampling table whose every entry differs, so the generated tests prove that the service picks
# its environment's ratio at run time; the bundled policy samples 1.0 everywhere.
DISTINCT_RATIOS = {"ratio": 0.1, "environments": {"dev": 1.0, "staging": 0.5, "prod": 0.3}}


@pytest.fixture(autouse=True)
def _cargo() -> None:
    require_tool("cargo", "rustfmt", "cargo-clippy")


@pytest.fixture(scope="module")
def distinct_ratio_templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled template set with the policy's sampling table of DISTINCT_RATIOS."""
    template = tmp_path_factory.mktemp("distinct-ratios") / "templates"
    shutil.copytree(ROOT / "templates", template)
    policy = yaml.safe_load((template / "policy.yml").read_text(encoding="utf-8"))
    policy["sampling"].update(DISTINCT_RATIOS)
    (template / "policy.yml").write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return template


@pytest.mark.parametrize("combo", COMBINATIONS, ids=list(COMBINATIONS))
def test_rust_service_is_fmt_clippy_clean_and_passes_its_tests(
    tmp_path: Path, combo: str, distinct_ratio_templates: Path
) -> None:
    dest = tmp_path / "svc"
    render(
        dest,
        template=str(distinct_ratio_templates),
        service_name=f"ledger-{combo}",
        language="rust",
        **COMBINATIONS[combo],
    )
    rendered_lock = (dest / "Cargo.lock").read_text(encoding="utf-8")
    rust_checks(dest)
    # One dependency set for every combination: cargo needed no change to the rendered lock.
    assert (dest / "Cargo.lock").read_text(encoding="utf-8") == rendered_lock

    # The sampling tests print the share they measured in each environment.
    out = run(
        ["cargo", "test", "--test", "telemetry", "sampling::", "--", "--nocapture"],
        dest,
        CARGO_ENV,
        timeout=600,
    )
    shares = {
        env: (float(ratio), float(share))
        for env, ratio, share in re.findall(
            r"^([\w-]+): ratio ([\d.]+), sampled share ([\d.]+) of", out, flags=re.M
        )
    }
    # A `sampling_ratio` answer replaces the table in every environment.
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    override = answers["sampling_ratio"]
    assert override == COMBINATIONS[combo].get("sampling_ratio", "")
    environments = DISTINCT_RATIOS["environments"]
    assert isinstance(environments, dict)
    for env, expected in environments.items():
        ratio, share = shares[env]
        assert ratio == float(override or expected), (env, shares)
        assert abs(share - ratio) < 0.02, (env, shares)
    assert re.search(r"remote strategy changed 0\.1 -> 0\.8: followed after", out), out


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
