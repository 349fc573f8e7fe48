"""`scaffold template check`: the pairwise generator, the residue rule, and the check itself."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scaffold.cli import cli
from scaffold.errors import CheckFailedError, DestinationError, PolicyError, TemplateError
from scaffold.render import commit_all
from scaffold.source import load_copier_config, open_source
from scaffold.template_repo import init_template_repo
from scaffold.templates import (
    CheckReport,
    TemplateCheck,
    covering_combinations,
    find_residue,
    go_steps,
    pairwise,
    rust_steps,
)

from .conftest import ROOT, require_tool


def uncovered_pairs(
    factors: list[tuple[str, list[Any]]], rows: list[dict[str, Any]]
) -> list[tuple[str, Any, str, Any]]:
    missing = []
    for (a, a_values), (b, b_values) in itertools.combinations(factors, 2):
        for x, y in itertools.product(a_values, b_values):
            if not any(row[a] == x and row[b] == y for row in rows):
                missing.append((a, x, b, y))
    return missing


# --- the pairwise generator ---------------------------------------------------------------


@pytest.mark.parametrize(
    "factors",
    [
        [("language", ["go", "rust"])]
        + [(b, [False, True]) for b in "abcde"]
        + [("protocol", ["grpc", "http/protobuf"])],
        [("x", [1, 2, 3]), ("y", ["a", "b", "c"]), ("z", [True, False]), ("w", [0, 1, 2, 3])],
        [("only", ["a", "b", "c"])],
        [("x", [1]), ("y", [1, 2])],
    ],
    ids=["bundled-shape", "mixed-sizes", "one-factor", "one-value"],
)
def test_pairwise_covers_every_pair(factors: list[tuple[str, list[Any]]]) -> None:
    rows = pairwise(factors)
    assert uncovered_pairs(factors, rows) == []
    assert all(set(row) == {name for name, _ in factors} for row in rows)
    assert rows == pairwise(factors), "the order must be deterministic"
    if len(factors) == 1:
        assert [row["only"] for row in rows] == ["a", "b", "c"]
    # Far fewer rows than the full product: that is the point of pairwise.
    full = 1
    for _, values in factors:
        full *= len(values)
    assert len(rows) <= max(full // 2, len(factors[0][1]) * len(factors[-1][1]))


def test_pairwise_refuses_a_factor_without_values() -> None:
    with pytest.raises(TemplateError, match="no choices for b"):
        pairwise([("a", [1, 2]), ("b", [])])


def test_bundled_combinations_cover_languages_boundaries_and_protocols() -> None:
    with open_source() as source:
        config = source.config()
        combos = covering_combinations(config)
        assert len(combos) >= 6
        names = [c.answers["service_name"] for c in combos]
        assert len(set(names)) == len(names), "cargo needs a distinct crate name per render"
        assert len({c.name for c in combos}) == len(combos)
        assert combos == covering_combinations(config)
        boundaries = list(config["boundaries"]["choices"].values())
        rows = [
            {
                "language": c.language,
                "exporter_protocol": c.answers["exporter_protocol"],
                **{b: b in c.answers["boundaries"] for b in boundaries},
            }
            for c in combos
        ]
        factors: list[tuple[str, list[Any]]] = [("language", ["go", "rust"])]
        factors += [(b, [False, True]) for b in boundaries]
        factors.append(("exporter_protocol", ["grpc", "http/protobuf"]))
        assert uncovered_pairs(factors, rows) == []

        rust_only = covering_combinations(config, ["rust"], name_prefix="t")
        assert {c.language for c in rust_only} == {"rust"}
        assert rust_only[0].answers["service_name"] == "t-rust-1"
        with pytest.raises(TemplateError, match="does not offer cobol"):
            covering_combinations(config, ["cobol"])


# --- the residue rule -----------------------------------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_clean_code_is_not_residue(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "src/main.rs": 'fn main() {\n    let v = vec![{{\n        1\n    }}];\n    println!("{v:?}");\n}\n',
            "main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Printf("[%.3f]\\n", 1.0) }\n',
            ".copier-answers.yml": "description: 'uses {{ braces }} in prose'\n",
            ".git/config": "",
        },
    )
    assert find_residue(root) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('const Name = "{{ undefined_thing }}"\n', "template residue '{{ undefined_thing }}'"),
        ("{% if grpc %}\nx\n", "template residue '{% if grpc %}'"),
        ("{#- a comment -#}\n", "template residue '{#-'"),
        ("[% if legacy %]\n", "template residue '[% if legacy %]'"),
        ("[[ legacy_var ]]\n", "template residue '[[ legacy_var ]]'"),
        ("x := 1 \n", "trailing whitespace"),
        ("a\n\n\nb\n", "two blank lines in a row"),
        ("no newline", "must end with exactly one newline"),
        ("two newlines\n\n", "must end with exactly one newline"),
        (" \n", "is empty"),
        ("", "is empty"),
    ],
)
def test_residue_rule(tmp_path: Path, text: str, problem: str) -> None:
    write_tree(tmp_path, {"ok.go": "package ok\n", "pkg/bad.go": text})
    found = find_residue(tmp_path)
    assert [(r.path, r.problem) for r in found] == [("pkg/bad.go", problem)]
    assert str(found[0]).startswith("pkg/bad.go")


def test_residue_names_the_line(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.go": "package a\n\n// {{ service_name }}\n"})
    [residue] = find_residue(tmp_path)
    assert (residue.line, str(residue)) == (
        3,
        "a.go:3: template residue '{{ service_name }}'",
    )


# --- the check, without toolchains ------------------------------------------------------------


def test_missing_toolchain_is_a_failure_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for steps, tool in ((go_steps(tmp_path), "go"), (rust_steps(tmp_path), "cargo")):
        assert [(s.name, s.passed) for s in steps] == [("toolchain", False)]
        assert tool in steps[0].output and "not installed" in steps[0].output


def template_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", copy)
    return copy


def test_a_policy_violation_fails_before_anything_renders(tmp_path: Path) -> None:
    template = template_copy(tmp_path)
    policy = template / "policy.yml"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace(
            "default_environment: dev", "default_environment: moon"
        ),
        encoding="utf-8",
    )
    workdir = tmp_path / "renders"
    with pytest.raises(PolicyError, match="default_environment"):
        TemplateCheck(src=str(template), workdir=workdir).run()
    assert not workdir.exists()


def test_a_used_workdir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "renders").mkdir()
    (tmp_path / "renders" / "go-1").mkdir()
    with pytest.raises(DestinationError, match="not empty"):
        TemplateCheck(workdir=tmp_path / "renders").run()


def test_residue_fails_every_combination_and_names_the_step(tmp_path: Path) -> None:
    # A file added without the .jinja suffix is copied verbatim: its tags stay unrendered.
    template = template_copy(tmp_path)
    for language in ("go", "rust"):
        (template / language / "NOTES.md").write_text("# {{ service_name }}\n", encoding="utf-8")
    report_file = tmp_path / "out" / "check.json"
    seen: list[str] = []
    report = TemplateCheck(
        src=str(template),
        json_path=report_file,
        jobs=2,  # Go and Rust lanes side by side; the report keeps the combination order
        workdir=tmp_path / "renders",
        on_result=lambda r: seen.append(r.combination.name),
    ).run()
    assert not report.passed
    names = [c.name for c in covering_combinations(load_copier_config(template / "copier.yml"))]
    assert report.failed == [r.combination.name for r in report.results] == names
    assert sorted(seen) == sorted(names)
    assert (tmp_path / "renders" / "rust-1" / "NOTES.md").is_file(), "workdir keeps the renders"
    for result in report.results:
        assert result.failed_step is not None and result.failed_step.name == "residue"
        assert "NOTES.md:1: template residue '{{ service_name }}'" in result.failed_step.output
        assert [s.name for s in result.steps] == ["render", "residue"]
    document = json.loads(report_file.read_text(encoding="utf-8"))
    assert document["passed"] is False
    assert [c["name"] for c in document["combinations"]] == names
    assert {c["failed_step"] for c in document["combinations"]} == {"residue"}
    assert "FAIL (residue)" in report.matrix()[1]
    with pytest.raises(CheckFailedError) as caught:
        report.raise_for_failures()
    assert caught.value.exit_code == 13 and caught.value.failed == report.failed


def test_a_local_git_template_is_checked_at_head(tmp_path: Path) -> None:
    repo = init_template_repo(tmp_path / "template-repo")
    (repo / "go" / "NOTES.md").write_text("# {{ service_name }}\n", encoding="utf-8")
    commit_all(repo, "Add notes, forgetting the .jinja suffix")
    report = TemplateCheck(src=str(repo), languages=["go"]).run()
    assert report.ref == "HEAD"
    assert {r.failed_step.name for r in report.results if r.failed_step} == {"residue"}


# --- the check, with toolchains -------------------------------------------------------------


@pytest.mark.compile
def test_gofmt_difference_fails_with_the_step_named(tmp_path: Path) -> None:
    require_tool("go", "gofmt")
    template = template_copy(tmp_path)
    version = template / "go" / "{{ telemetry_dir }}" / "version.go.jinja"
    text = version.read_text(encoding="utf-8")
    version.write_text(text.replace('const Version = "0.1.0"', 'const Version="0.1.0"'), "utf-8")
    report = TemplateCheck(src=str(template), languages=["go"]).run()
    assert report.results and not report.passed
    for result in report.results:
        failed = result.failed_step
        assert failed is not None and failed.name == "gofmt -l", result.steps
        assert "gofmt would change: internal/telemetry/version.go" in failed.output


@pytest.mark.compile
def test_bundled_templates_pass_on_every_combination(tmp_path: Path) -> None:
    require_tool("go", "gofmt", "cargo", "rustfmt", "cargo-clippy")
    report_file = tmp_path / "check.json"
    report: CheckReport = TemplateCheck(json_path=report_file, name_prefix="tcheck", jobs=2).run()
    problems = {
        r.combination.name: (r.failed_step.name, r.failed_step.output)
        for r in report.results
        if r.failed_step
    }
    assert report.passed, problems
    assert len(report.results) >= 6
    assert {r.combination.language for r in report.results} == {"go", "rust"}
    document = json.loads(report_file.read_text(encoding="utf-8"))
    assert document["passed"] is True
    assert [c["name"] for c in document["combinations"]] == [
        r.combination.name for r in report.results
    ]
    for entry in document["combinations"]:
        assert entry["passed"] is True and entry["failed_step"] is None
        assert entry["seconds"] > 0 and entry["answers"]["service_name"].startswith("tcheck-")
        expected = ["render", "residue"] + (
            ["gofmt -l", "go build", "go mod tidy", "go vet", "go test"]
            if entry["language"] == "go"
            else ["cargo fmt --check", "cargo clippy", "cargo test"]
        )
        assert [s["name"] for s in entry["steps"]] == expected
    assert len(report.matrix()) == len(report.results) + 1
    report.raise_for_failures()


def test_cli_template_check_reports_the_matrix_and_exits_13(tmp_path: Path) -> None:
    template = template_copy(tmp_path)
    (template / "go" / "NOTES.md").write_text("# {{ service_name }}\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["template", "check", str(template), "--lang", "go", "--json", str(tmp_path / "r.json")],
    )
    assert result.exit_code == CheckFailedError.exit_code, result.output
    assert "residue" in result.output
    assert "NOTES.md" in result.output
    combos = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["combinations"]
    assert combos and all(c["language"] == "go" and not c["passed"] for c in combos)
