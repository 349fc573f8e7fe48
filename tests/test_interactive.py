"""`scaffold new` in a real pseudo-terminal: questionary prompts, inline validation, abort."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

from scaffold.bundled import CACHE_ENV

SCAFFOLD = str(Path(sys.executable).with_name("scaffold"))
ENTER = "\r"
DOWN = "\x1b[B"
SPACE = " "


def spawn(tmp_path: Path, *args: str) -> pexpect.spawn:
    child = pexpect.spawn(
        SCAFFOLD,
        ["new", *args],
        cwd=str(tmp_path),
        env={
            "TERM": "xterm",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            CACHE_ENV: os.environ[CACHE_ENV],  # the session's template cache, not tmp_path
        },
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 160),
    )
    return child


def answer(child: pexpect.spawn, question: str, keys: str) -> None:
    child.expect(question)
    child.send(keys)


def test_interactive_new_asks_validates_and_renders(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--no-git", "--dest", "svc")
    answer(child, "Service name", "Bad Name" + ENTER)
    child.expect("does not match the org rule")
    child.send("\x15")  # clear the line (ctrl-u) and type a good name
    child.send("orders" + ENTER)
    answer(child, "Language of the service", DOWN + ENTER)  # Rust
    answer(child, "Directory of the telemetry package", "\x15" + "src/app" + ENTER)
    child.expect("is taken")  # src/app.rs is the crate's routes
    child.send("\x15" + "src/otel" + ENTER)
    answer(child, "One-line description", ENTER)
    answer(child, "Owning team", "\x15" + "billing" + ENTER)
    answer(child, "Owner contact", ENTER)
    answer(child, "Deployment environment", DOWN + DOWN + ENTER)  # prod
    answer(child, "Boundaries to instrument", DOWN + SPACE + ENTER)  # add gRPC server
    answer(child, r"follow the org policy \(1.0 in prod\)", "0.05" + ENTER)
    answer(child, "Default OTLP protocol", ENTER)
    child.expect("Created orders \\(rust\\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    recorded = yaml.safe_load(
        (tmp_path / "svc" / ".copier-answers.yml").read_text(encoding="utf-8")
    )
    assert recorded["language"] == "rust"
    assert recorded["telemetry_dir"] == "src/otel"
    assert (tmp_path / "svc" / "src" / "otel" / "mod.rs").is_file()
    assert recorded["team"] == "billing"
    assert recorded["environment"] == "prod"
    assert recorded["boundaries"] == ["http_client", "grpc_server"]
    assert recorded["sampling_ratio"] == "0.05"


def test_ctrl_c_aborts_and_writes_nothing(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--dest", "svc")
    answer(child, "Service name", "orders" + ENTER)
    child.expect("Language of the service")
    child.sendcontrol("c")
    child.expect(r"aborted \(SIGINT\); the step in progress was undone")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["--defaults"])
def test_defaults_never_prompt_in_a_terminal(tmp_path: Path, flag: str) -> None:
    child = spawn(tmp_path, "orders", flag, "--no-git", "--dest", "svc")
    child.expect("Created orders \\(go\\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
