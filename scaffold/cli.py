"""The `scaffold` command line: parse flags, call the library, report.

This is the only module that prints or exits. Every `ScaffoldError` becomes one line on stderr
and its exit code, in `_handle_errors`; so does an interrupt: SIGINT, SIGTERM and SIGHUP raise
`scaffold._signals.Interrupted` (installed by `main`), every step in progress undoes itself on
the way out, and the command exits with 130, 143 or 129.
"""

from __future__ import annotations

import functools
import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, ParamSpec, TypeVar

import click

from scaffold import _signals
from scaffold._defaults import (
    DEFAULT_BRANCH,
    DEFAULT_STRATEGIES_FILE,
    DEFAULT_VERSION,
    TIERS,
    Tier,
)
from scaffold.errors import BehindError, ConflictError, PolicyError, ScaffoldError

# Only click and the small modules above load at start: `scaffold --help` (and tab completion)
# stays fast. Each command imports the library it runs, with copier, questionary, rich or yaml
# under it, in its body (tests/test_cli.py checks that help loads none of them).
if TYPE_CHECKING:
    from scaffold.fleet import RepoOutcome, RepoStatus
    from scaffold.templates import CheckReport, CombinationResult

__all__ = ["main"]

PROG_NAME = "scaffold"
# The environment variable the completion scripts set when they ask `scaffold` for completions.
COMPLETE_VAR = "_SCAFFOLD_COMPLETE"
COMPLETION_SHELLS = ("bash", "zsh", "fish")

P = ParamSpec("P")
R = TypeVar("R")


def _handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map library errors to a one-line message on stderr and the error's exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ScaffoldError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            _interrupted(exc)

    return wrapper


def _interrupted(exc: KeyboardInterrupt) -> NoReturn:
    """Exit for SIGINT, SIGTERM or SIGHUP; the step in progress has undone itself by now."""
    _signals.ignore()
    name = exc.name if isinstance(exc, _signals.Interrupted) else "SIGINT"
    click.echo(f"aborted ({name}); the step in progress was undone", err=True)
    sys.exit(_signals.exit_code(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="otel-scaffold", prog_name="scaffold")
def cli() -> None:
    """Render OpenTelemetry-instrumented Go and Rust services from one org policy."""


def _template_and_answer_options(func: Callable[P, R]) -> Callable[P, R]:
    """The options `new` and `adopt` share: which template version, and answers given up front."""
    options = [
        click.option(
            "--template",
            "template",
            metavar="SRC",
            help="Template set: a path or git URL [default: bundled].",
        ),
        click.option(
            "--vcs-ref",
            metavar="REF",
            help="Template version (git tag or commit) [default: latest tag].",
        ),
        click.option(
            "-d",
            "--data",
            "data",
            multiple=True,
            metavar="KEY=VALUE",
            help="Answer a question; repeatable.",
        ),
        click.option("--data-file", type=click.Path(path_type=Path), help="YAML file of answers."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _given_answers(data_file: Path | None, data: tuple[str, ...]) -> dict[str, Any]:
    """Answers from --data-file, overridden by --data."""
    from scaffold.questions import load_answers_file, parse_data

    answers: dict[str, Any] = load_answers_file(data_file) if data_file else {}
    answers.update(parse_data(list(data)))
    return answers


@cli.command()
@click.argument("name", required=False)
@click.option("--lang", type=click.Choice(["go", "rust"]), help="Language of the service.")
@click.option("--dest", type=click.Path(path_type=Path), help="Output directory [default: ./NAME].")
@_template_and_answer_options
@click.option("--defaults", is_flag=True, help="Take the default of every question not answered.")
@click.option("--no-git", is_flag=True, help="Do not create a git repository and first commit.")
@_handle_errors
def new(
    name: str | None,
    lang: str | None,
    dest: Path | None,
    template: str | None,
    vcs_ref: str | None,
    data: tuple[str, ...],
    data_file: Path | None,
    defaults: bool,
    no_git: bool,
) -> None:
    """Create a new instrumented service.

    Asks the template's questions in a terminal; in automation pass the answers with --data,
    --data-file and --defaults.
    """
    from scaffold.bundled import is_bundled_source
    from scaffold.render import NewService

    answers = _given_answers(data_file, data)
    if name is not None:
        answers["service_name"] = name
    if lang is not None:
        answers["language"] = lang
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    asker = None
    if interactive and not defaults:
        from scaffold._prompt import ask

        asker = ask
    result = NewService(
        dest=dest,
        data=answers,
        template=template,
        vcs_ref=vcs_ref,
        use_defaults=defaults,
        ask=asker,
        git_init=not no_git,
    ).run()
    version = f" {result.ref}" if result.ref else ""
    origin = "the bundled templates" if is_bundled_source(result.template) else result.template
    click.echo(
        f"Created {result.answers['service_name']} ({result.answers['language']}) in {result.dest}"
        f" from {origin}{version}"
    )
    click.echo("Next steps:")
    for step in result.next_steps:
        click.echo(f"  {step}")


@cli.command()
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@click.option(
    "--lang",
    type=click.Choice(["go", "rust"]),
    help="Language [default: from go.mod or Cargo.toml].",
)
@click.option(
    "--package-dir",
    metavar="DIR",
    help="Where to put the telemetry package, relative to PATH (the telemetry_dir answer) "
    "[default: internal/telemetry for Go, src/telemetry for Rust].",
)
@click.option(
    "--package",
    "member",
    metavar="NAME",
    help="In a Cargo workspace root: the member crate to adopt into.",
)
@click.option(
    "--no-verify",
    is_flag=True,
    help="Do not build the result (go build + go vet, cargo check); keep it even if it fails.",
)
@_template_and_answer_options
@_handle_errors
def adopt(
    path: Path,
    lang: str | None,
    package_dir: str | None,
    member: str | None,
    no_verify: bool,
    template: str | None,
    vcs_ref: str | None,
    data: tuple[str, ...],
    data_file: Path | None,
) -> None:
    """Add the telemetry package to an existing Go module or Cargo crate.

    Writes the package, moves the OpenTelemetry dependencies the project already has to the
    template's versions, adds .copier-answers.yml (never overwriting a file), builds the result
    and prints the lines that wire it in. When the build fails, everything is put back. The
    tree must be clean; nothing is committed.
    """
    from scaffold.adopt import Adopt

    answers = _given_answers(data_file, data)
    if package_dir is not None:
        answers["telemetry_dir"] = package_dir
    result = Adopt(
        path=path,
        language=lang,
        template=template,
        vcs_ref=vcs_ref,
        data=answers,
        package=member,
        verify=not no_verify,
    ).run()
    for line in result.summary():
        click.echo(line)


@cli.command()
@click.option("--tier", type=click.Choice(TIERS), required=True, help="Which collector tier.")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Write the YAML here [default: stdout]."
)
@click.option(
    "--gateway",
    "gateways",
    multiple=True,
    metavar="HOST:PORT",
    help="Agent: a gateway's OTLP/gRPC address; repeatable.",
)
@click.option(
    "--upstream", metavar="URL", help="Gateway: the backend's OTLP endpoint (http:// or https://)."
)
@click.option(
    "--upstream-protocol",
    type=click.Choice(["grpc", "http/protobuf"]),
    default="grpc",
    show_default=True,
)
@click.option("--gateway-tls", is_flag=True, help="Agent: use TLS towards the gateways.")
@click.option(
    "--storage-dir",
    type=click.Path(path_type=Path),
    help="Persistent queue directory [default: from the policy].",
)
@click.option("--debug", is_flag=True, help="Add the debug exporter.")
@click.option(
    "--remote-sampling/--no-remote-sampling",
    default=None,
    help="Agent: serve Jaeger remote sampling strategies [default: policy sampling.remote.enabled].",
)
@click.option(
    "--sampling-strategies",
    type=click.Path(path_type=Path),
    default=DEFAULT_STRATEGIES_FILE,
    show_default=True,
    help="Agent: the strategies file the collector serves and re-reads.",
)
@click.option(
    "--strategies-out",
    type=click.Path(path_type=Path),
    help="Also write the policy's default strategies file here (JSON).",
)
@click.option(
    "--environment",
    metavar="ENV",
    help="Environment whose sampling ratio the default strategies carry "
    "[default: policy default_environment].",
)
@click.option(
    "--template",
    "template",
    metavar="SRC",
    help="Template set whose policy to use [default: bundled].",
)
@_handle_errors
def collector(
    tier: Tier,
    out: Path | None,
    gateways: tuple[str, ...],
    upstream: str | None,
    upstream_protocol: Literal["grpc", "http/protobuf"],
    gateway_tls: bool,
    storage_dir: Path | None,
    debug: bool,
    remote_sampling: bool | None,
    sampling_strategies: Path,
    strategies_out: Path | None,
    environment: str | None,
    template: str | None,
) -> None:
    """Render an OpenTelemetry Collector configuration for the agent or gateway tier.

    With remote sampling, the agent serves the Jaeger sampling strategies of
    --sampling-strategies and re-reads the file, so an edit changes a service's rate without a
    restart; --strategies-out writes a starting file from the policy's sampling table.
    """
    from scaffold.collector import (
        CollectorOptions,
        render_collector_config,
        render_sampling_strategies,
        write_files_atomic,
    )
    from scaffold.source import open_source

    options = CollectorOptions(
        gateways=gateways,
        upstream=upstream,
        upstream_protocol=upstream_protocol,
        gateway_tls=gateway_tls,
        storage_directory=storage_dir,
        debug=debug,
        remote_sampling=remote_sampling,
        sampling_strategies=sampling_strategies,
    )
    with open_source(template) as source:
        policy = source.policy()
        text = render_collector_config(policy, tier, options)
        strategies = render_sampling_strategies(policy, environment)
    files = {} if strategies_out is None else {strategies_out: strategies}
    if out is None:
        write_files_atomic(files)
        click.echo(text, nl=False)
    else:
        write_files_atomic({out: text, **files})
        click.echo(f"Wrote the {tier} collector configuration to {out}", err=True)
    if strategies_out is not None:
        click.echo(f"Wrote the sampling strategies to {strategies_out}", err=True)


@cli.command()
@click.option(
    "--expect-trace",
    is_flag=True,
    help="Exit 0 once a trace with spans from --services services arrived; exit 16 after --timeout.",
)
@click.option(
    "--services",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="With --expect-trace: how many services the trace must cross.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60,
    show_default=True,
    help="With --expect-trace: seconds to wait once the sink listens.",
)
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=4317, show_default=True)
@click.option("--http-port", type=click.IntRange(1, 65535), default=4318, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 lets containers send too.",
)
@click.option(
    "--collector",
    "collector_binary",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run this collector binary [default: the project's own build, built once and cached].",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the configuration, traces.jsonl and the collector's log here.",
)
@_handle_errors
def dev(
    expect_trace: bool,
    services: int,
    timeout: float,
    grpc_port: int,
    http_port: int,
    host: str,
    collector_binary: Path | None,
    workdir: Path | None,
) -> None:
    """See your traces: a local collector on the standard OTLP ports that shows each trace.

    Services made by `scaffold new` export to localhost:4317 by default, so run this, start
    the services, and every trace they produce is printed as a tree: service, span, timing,
    status and the attributes that matter. The collector is the project's own build: the first
    run builds it (minutes, with progress), later runs reuse it.
    """
    from scaffold._trace_view import run_dev
    from scaffold.dev import DevSink

    def echo(line: str) -> None:
        click.echo(line, err=True)

    sink = DevSink(
        host=host,
        grpc_port=grpc_port,
        http_port=http_port,
        collector=collector_binary,
        workdir=workdir,
        on_build_output=echo,
    )
    run_dev(sink, services if expect_trace else None, timeout, echo)


@cli.command()
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@click.option(
    "--to",
    metavar="REF",
    help="Template version (tag, branch or commit) [default: latest release tag].",
)
@click.option(
    "--pretend", is_flag=True, help="Show what would change, conflicts included; change nothing."
)
@_handle_errors
def update(path: Path, to: str | None, pretend: bool) -> None:
    """Update a service to a new version of its template, keeping local edits."""
    from scaffold.update import UpdateService

    result = UpdateService(path=path, to=to, pretend=pretend).run()
    for line in result.summary():
        click.echo(line)
    if result.conflicts:
        raise ConflictError(result.path, result.conflicts)


@cli.command("check")
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_handle_errors
def check_command(path: Path, as_json: bool) -> None:
    """Exit 0 when the service is on the latest template version, 11 when it is behind."""
    from scaffold.update import check

    result = check(path)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())
    if result.behind:
        # Behind is an answer, not a failure: said on stdout like "current", told by the code.
        raise click.exceptions.Exit(BehindError.exit_code)


@cli.group()
def template() -> None:
    """Work on an organisation's template repository."""


@template.command("init")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--tag",
    default=DEFAULT_VERSION,
    show_default=True,
    help="First version (PEP 440); the tag is v-prefixed either way.",
)
@_handle_errors
def template_init(dest: Path, tag: str) -> None:
    """Create a template repository from the bundled set, committed and tagged."""
    from scaffold.source import version_tag
    from scaffold.template_repo import init_template_repo

    repo = init_template_repo(dest, tag)
    click.echo(f"Created template repository {repo} at {version_tag(tag)}")
    click.echo("Next: push it, then `scaffold new --template <its git URL>`")


@template.command("check")
@click.argument("src", required=False)
@click.option(
    "--ref",
    "vcs_ref",
    help="Version of a git source [default: HEAD of a local repository, uncommitted changes "
    "included; the latest version tag of a remote one].",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report, every combination with its result, to this file.",
)
@click.option("--lang", "languages", multiple=True, help="Check only this language; repeatable.")
@click.option(
    "--keep",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Render into this new directory and keep the renders, to debug a failure.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="2 runs the Go and the Rust combinations side by side.",
)
@_handle_errors
def template_check(
    src: str | None,
    vcs_ref: str | None,
    json_path: Path | None,
    languages: tuple[str, ...],
    workdir: Path | None,
    jobs: int,
) -> None:
    """Prove a template set: render a pairwise set of answer combinations, compile and test each.

    SRC is a template directory or git URL (default: the bundled templates).
    """
    from scaffold.templates import TemplateCheck

    report = TemplateCheck(
        src=src,
        vcs_ref=vcs_ref,
        json_path=json_path,
        languages=list(languages) or None,
        workdir=workdir,
        jobs=jobs,
        on_result=_progress,
    ).run()
    for line in report.matrix():
        click.echo(line)
    for result in report.results:
        failed = result.failed_step
        if failed is not None:
            click.echo(
                f"\n{result.combination.name} ({result.combination.label}): `{failed.name}` failed:",
                err=True,
            )
            click.echo(textwrap.indent(failed.output, "    "), err=True)
    click.echo(f"{len(report.results)} combination(s) checked in {report.seconds:.0f}s")
    report.raise_for_failures()


def _progress(result: CombinationResult) -> None:
    """Report one checked combination while the others still run."""
    failed = result.failed_step
    verdict = "pass" if failed is None else f"FAIL ({failed.name})"
    click.echo(f"  {result.combination.name}: {verdict} in {result.seconds:.1f}s", err=True)


@template.command("release")
@click.argument("version")
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    show_default=True,
    help="The template repository.",
)
@click.option("--no-check", is_flag=True, help="Skip `scaffold template check` (not recommended).")
@_handle_errors
def template_release(version: str, repo: Path, no_check: bool) -> None:
    """Check, record in CHANGELOG.md and tag a new version of a template repository."""
    from scaffold.release import TemplateRelease
    from scaffold.templates import TemplateCheck

    def run_check(src: Path) -> CheckReport:
        click.echo(f"Checking the template combinations of {version} ...", err=True)
        report = TemplateCheck(src=str(src), on_result=_progress).run()
        for line in report.matrix():
            click.echo(line, err=True)
        return report

    result = TemplateRelease(
        repo=repo, version=version, check=not no_check, checker=run_check
    ).run()
    click.echo(result.entry)
    for line in result.summary():
        click.echo(line)


@cli.group()
def policy() -> None:
    """Inspect the org policy."""


@policy.command("validate")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@_handle_errors
def policy_validate(path: Path | None) -> None:
    """Check a policy file (or a template set's policy.yml) and explain every problem."""
    from scaffold.policy import POLICY_FILE, load_policy
    from scaffold.source import bundled_templates

    target = path or bundled_templates() / POLICY_FILE
    try:
        loaded = load_policy(target)
    except PolicyError as exc:
        click.secho(f"{exc.path}: {len(exc.problems)} problem(s)", fg="red", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(exc.exit_code)
    raw = loaded.raw
    ratios = ", ".join(f"{env} {loaded.sampling_ratio(env):g}" for env in loaded.environments)
    click.echo(f"{loaded.path}: valid")
    click.echo(
        f"  attributes: {len(raw['attributes'])} registered, {len(raw['resource']['required'])} required"
    )
    click.echo(f"  sampling: parentbased_traceidratio, {ratios}")
    click.echo(
        f"  exporter: {raw['exporter']['protocol']}, timeout {raw['exporter']['timeout_ms']} ms"
    )


@policy.command("diff")
@click.argument("old")
@click.argument("new", required=False, default=".")
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    show_default=True,
    help="Template repository that git:REF names a version of.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@_handle_errors
def policy_diff(old: str, new: str, repo: Path, as_json: bool) -> None:
    """What changing the policy from OLD to NEW means for services, in plain words.

    OLD and NEW are each a policy.yml, a template set directory, or git:REF (the policy at a
    tag, branch or commit of --repo). NEW defaults to the current directory.
    """
    from scaffold.policy_diff import diff_policies, load_policy_spec

    changes = diff_policies(load_policy_spec(old, repo), load_policy_spec(new, repo))
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in changes], indent=2))
    elif not changes:
        click.echo("No policy changes.")
    else:
        for change in changes:
            click.echo(f"- {change.sentence}")


@cli.group()
def fleet() -> None:
    """Audit and upgrade the instrumentation of many service repositories."""


def _fleet_options(func: Callable[P, R]) -> Callable[P, R]:
    """The options `fleet status` and `fleet upgrade` share: which repositories, how many at once."""
    options = [
        click.argument("repos", nargs=-1),
        click.option(
            "--repos-file",
            type=click.Path(path_type=Path),
            help="File of repositories, one local path or git URL per line (# comments).",
        ),
        click.option(
            "--shard",
            metavar="I/N",
            help="Work only on shard I of N (1-based): a deterministic split for CI matrices.",
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            help="Repositories worked on at once [default: number of CPUs].",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Where repository clones are kept [default: ~/.cache/otel-scaffold/fleet].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _fleet_repos(repos: tuple[str, ...], repos_file: Path | None, shard: str | None) -> list[str]:
    """The repositories named on the command line and in the file, cut to this shard."""
    from scaffold.fleet import parse_shard, read_repos_file, select_shard

    chosen = list(repos) + (read_repos_file(repos_file) if repos_file else [])
    if not chosen:
        raise click.UsageError("name at least one repository, or pass --repos-file")
    if shard:
        try:
            index, total = parse_shard(shard)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--shard") from None
        chosen = select_shard(chosen, index, total)
    return chosen


@fleet.command("status")
@_fleet_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@_handle_errors
def fleet_status_command(
    repos: tuple[str, ...],
    repos_file: Path | None,
    shard: str | None,
    jobs: int | None,
    cache_dir: Path | None,
    as_json: bool,
) -> None:
    """Show where each repository stands: language, template, version, how far behind, problems.

    REPOS are local paths or git URLs.
    """
    from scaffold.fleet import fleet_status, status_table

    chosen = _fleet_repos(repos, repos_file, shard)
    with _FleetProgress(len(chosen), "fetching") as progress:
        statuses = fleet_status(chosen, cache_dir=cache_dir, jobs=jobs, on_status=progress.status)
    if as_json:
        click.echo(json.dumps([status.to_dict() for status in statuses], indent=2))
        return
    for line in status_table(statuses):
        click.echo(line)


@fleet.command("upgrade")
@_fleet_options
@click.option(
    "--to", metavar="REF", help="Template version to upgrade to [default: the latest release]."
)
@click.option(
    "--branch",
    default=DEFAULT_BRANCH,
    show_default=True,
    callback=lambda _ctx, _param, value: _branch_pattern(value),
    help="Upgrade branch; {version} is the target version.",
)
@click.option("--no-verify", is_flag=True, help="Do not run the policy's verify command.")
@click.option("--push", is_flag=True, help="Push each upgrade branch that verified.")
@click.option("--dry-run", is_flag=True, help="Show a diffstat per repository; change nothing.")
@click.option(
    "--keep-failed",
    is_flag=True,
    help="Leave a failed repository's branch and files in its cache clone, to inspect.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report, every repository with its outcome, to this file.",
)
@_handle_errors
def fleet_upgrade_command(
    repos: tuple[str, ...],
    repos_file: Path | None,
    shard: str | None,
    jobs: int | None,
    cache_dir: Path | None,
    to: str | None,
    branch: str,
    no_verify: bool,
    push: bool,
    dry_run: bool,
    keep_failed: bool,
    json_path: Path | None,
) -> None:
    """Upgrade many repositories to a template version, each on its own branch.

    Per repository, in parallel: clone or fetch into the cache, branch, update, verify, commit,
    and push with --push. Exits 14 when any repository ends in conflict, verify failure or error.
    """
    from scaffold.collector import write_text_atomic
    from scaffold.fleet import FleetUpgrade

    if push and dry_run:
        raise click.UsageError("--push and --dry-run exclude each other")
    chosen = _fleet_repos(repos, repos_file, shard)
    with _FleetProgress(len(chosen), "upgrading") as progress:
        report = FleetUpgrade(
            repos=chosen,
            to=to,
            jobs=jobs,
            branch=branch,
            verify=not no_verify,
            push=push,
            dry_run=dry_run,
            keep_failed=keep_failed,
            cache_dir=cache_dir,
            on_result=progress.outcome,
        ).run()
    for line in report.table():
        click.echo(line)
    for outcome in report.outcomes:
        if outcome.log_tail:
            click.echo(f"\n{outcome.label}: last lines of {outcome.verify_log}:", err=True)
            click.echo(textwrap.indent("\n".join(outcome.log_tail), "    "), err=True)
    if json_path is not None:
        write_text_atomic(json_path, json.dumps(report.to_dict(), indent=2) + "\n")
        click.echo(f"Report written to {json_path}")
    report.raise_for_failures()


def _branch_pattern(value: str) -> str:
    """`--branch`: a usage error (exit 2) when the pattern cannot make a branch name."""
    from scaffold.fleet import check_branch_name

    try:
        check_branch_name(value)
    except ScaffoldError as exc:
        raise click.BadParameter(exc.message, param_hint="--branch") from None
    return value


class _FleetProgress:
    """A progress bar on a terminal; one line per finished service otherwise (both on stderr)."""

    def __init__(self, total: int, verb: str) -> None:
        self.total = total
        self.verb = verb
        self.done = 0
        self._seen: set[str] = set()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _FleetProgress:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.verb, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _advance(self, repo: str, line: str) -> None:
        """Print a service's line; count its repository once (a monorepo has several lines)."""
        if repo not in self._seen:
            self._seen.add(repo)
            self.done += 1
            if self._bar is not None:
                self._bar.advance(self._task)
        if self._bar is not None:
            self._bar.console.print(line, highlight=False, markup=False)
        else:
            click.echo(f"[{self.done}/{self.total}] {line}", err=True)

    def status(self, status: RepoStatus) -> None:
        problems = "; ".join(status.problems)
        self._advance(status.repo, f"{status.label}: {problems or status.current or '?'}")

    def outcome(self, outcome: RepoOutcome) -> None:
        self._advance(outcome.repo, f"{outcome.label}: {outcome.outcome} ({outcome.seconds:.1f}s)")


@cli.command()
@click.argument("shell", type=click.Choice(COMPLETION_SHELLS))
def completion(shell: str) -> None:
    """Print the tab completion script for SHELL: bash, zsh or fish.

    bash: echo 'eval "$(scaffold completion bash)"' >> ~/.bashrc

    zsh: echo 'eval "$(scaffold completion zsh)"' >> ~/.zshrc (after compinit)

    fish: scaffold completion fish > ~/.config/fish/completions/scaffold.fish

    Then open a new shell. The script asks `scaffold` itself for the commands, options and
    values that fit, so it stays right when otel-scaffold is upgraded.
    """
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)
    assert script is not None  # click ships all three
    click.echo(script(cli, {}, PROG_NAME, COMPLETE_VAR).source())


def main() -> None:
    """Run the `scaffold` command line (the console script starts in `scaffold.__main__`)."""
    _signals.install()
    try:
        code = cli.main(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        # click turns an interrupt outside a command (while parsing) into Abort.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            _interrupted(exc.__cause__)
        click.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
