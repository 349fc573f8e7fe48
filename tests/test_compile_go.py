"""Render + compile tier for Go: the real toolchain on rendered services."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scaffold.questions import BOUNDARIES

from .conftest import render, require_tool, run
from .toolchains import GO_ENV, assert_runtime_contract, go_checks

pytestmark = pytest.mark.compile

COMBINATIONS: dict[str, dict[str, Any]] = {
    "http-only": {"boundaries": ["http_client"]},
    "server-only-http-protobuf": {
        "boundaries": [],
        "exporter_protocol": "http/protobuf",
        "environment": "prod",
    },
    "all-boundaries": {
        "boundaries": list(BOUNDARIES),
        "environment": "prod",
        "sampling_ratio": "0.25",
    },
}


@pytest.fixture(autouse=True)
def _go() -> None:
    require_tool("go", "gofmt")


@pytest.mark.parametrize("combo", COMBINATIONS, ids=list(COMBINATIONS))
def test_go_service_builds_vets_and_passes_its_tests(tmp_path: Path, combo: str) -> None:
    dest = tmp_path / "svc"
    render(dest, service_name="payments-api", language="go", **COMBINATIONS[combo])
    go_checks(dest)


def test_default_go_service_runs_and_benchmarks(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    render(dest, service_name="payments-api", language="go")
    binary = tmp_path / "payments-api"
    run(["go", "build", "-o", str(binary), "./cmd/payments-api"], dest, GO_ENV)
    # No collector listens: the service must serve and stop promptly anyway.
    assert_runtime_contract(binary, "payments-api", shutdown_deadline_s=5.0)

    out = run(
        [
            "go",
            "test",
            "-run",
            "^$",
            "-bench",
            ".",
            "-benchtime",
            "200x",
            "-benchmem",
            "./internal/telemetry",
        ],
        dest,
        GO_ENV,
    )
    names = set(re.findall(r"^BenchmarkMiddleware/(\S+?)(?:-\d+)?\s", out, flags=re.M))
    assert len(names) >= 5, out
    assert any("bare" in n.lower() for n in names), names
