"""`scaffold new` in a real pseudo-terminal: questionary prompts, inline validation, abort."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

from scaffold.bundled import CACHE_ENV
from scaffold.errors import AnswerError
from scaffold.policy import POLICY_FILE, load_policy
from scaffold.questions import Question, validate_answer
from scaffold.source import bundled_templates

SCAFFOLD = str(Path(sys.executable).with_name("scaffold"))
ENTER = "\r"
DOWN = "\x1b[B"
SPACE = " "


def spawn(tmp_path: Path, *args: str, columns: int = 160) -> pexpect.spawn:
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
        dimensions=(40, columns),
    )
    return child


def answer(child: pexpect.spawn, question: str, keys: str) -> None:
    child.expect(question)
    child.send(keys)


def screen_text(raw: str) -> str:
    """What a terminal shows of `raw`, escape sequences dropped, line ends as `\n`."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw).replace("\r", "")


# Every question but the service name and the boundaries, answered up front.
OTHER_ANSWERS = [
    *("-d", "language=go", "-d", "module=example.com/acme/orders"),
    *("-d", "telemetry_dir=internal/telemetry", "-d", "description=Orders"),
    *("-d", "team=billing", "-d", "owner=billing@acme.example", "-d", "environment=dev"),
    *("-d", "sampling_ratio=", "-d", "exporter_protocol=grpc"),
]


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


@pytest.mark.parametrize("how", [["orders"], ["--dest", "orders"]])
def test_a_taken_destination_is_refused_before_the_first_question(
    tmp_path: Path, how: list[str]
) -> None:
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "main.go").write_text("package main\n", encoding="utf-8")
    child = spawn(tmp_path, *how)
    child.expect(r"orders already exists and is not empty")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5
    assert "?" not in screen_text(child.before or ""), "a question was asked"


def test_a_taken_name_is_refused_at_the_prompt_and_another_taken(tmp_path: Path) -> None:
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "main.go").write_text("package main\n", encoding="utf-8")
    child = spawn(tmp_path, "--no-git", *OTHER_ANSWERS, "-d", "boundaries=")
    answer(child, "Service name", "orders" + ENTER)
    child.expect(r"orders already exists and is not empty; choose another name, or pass --dest")
    answer(child, "Service name", "\x15" + "orders-v2" + ENTER)
    child.expect(r"Created orders-v2 \(go\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert (tmp_path / "orders-v2" / "go.mod").is_file()
    assert sorted(p.name for p in (tmp_path / "orders").iterdir()) == ["main.go"]


def test_a_validation_message_is_shown_whole_at_80_columns(tmp_path: Path) -> None:
    policy = load_policy(bundled_templates() / POLICY_FILE)
    with pytest.raises(AnswerError) as refused:
        validate_answer(Question("service_name"), "Bad Name", policy)
    problem = refused.value.problem
    assert len(problem) > 100  # longer than a line: it must wrap, not be cut
    child = spawn(tmp_path, "--no-git", *OTHER_ANSWERS, "-d", "boundaries=", columns=80)
    answer(child, "Service name", "Bad Name" + ENTER)
    child.expect(r"  ! ")
    child.expect(r"\?(\x1b\[[0-9;]*m)* Service name")  # asked again, under the message
    shown = screen_text(child.before or "")
    assert " ".join(shown.split()) == " ".join(problem.split())
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    child.send("\x15" + "orders" + ENTER)
    child.expect(r"Created orders \(go\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_the_boundaries_say_what_is_selected_and_what_leaving_it_out_means(
    tmp_path: Path,
) -> None:
    child = spawn(tmp_path, "orders", "--no-git", "--dest", "svc", *OTHER_ANSWERS)
    child.expect("Boundaries to instrument")
    child.expect(r"selected now: HTTP client \(outgoing calls, the /call route\); Space toggles")
    child.send(SPACE + DOWN + SPACE + ENTER)  # unselect the HTTP client, select the gRPC server
    child.expect(r"left out: HTTP client \(outgoing calls, the /call route\)")
    child.expect(r"Created orders \(go\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    recorded = yaml.safe_load((tmp_path / "svc" / ".copier-answers.yml").read_text("utf-8"))
    assert recorded["boundaries"] == ["grpc_server"]
    assert not (tmp_path / "svc" / "cmd" / "orders" / "call.go").exists()
