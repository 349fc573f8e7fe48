"""`scaffold adopt` on Go modules, and what adopt shares with Rust: refusals, scope, rollback.

The compile tests build real modules of their own in git repositories (a net/http server, a
module on an older OpenTelemetry family with a contrib bridge, mains that end in `log.Fatal`
and `os.Exit`, gorilla/mux and chi routers), adopt, paste the printed wiring as printed, and
build, vet, test and run the result. The unit tests need no toolchain: every refusal happens
before anything is written (`_gomod.reconcile` is replaced where a test is not about it).
Rust crates are in test_adopt_rust.py.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from scaffold import _gomod
from scaffold.adopt import Adopt, WiringStep, detect_language, service_name_of
from scaffold.cli import cli
from scaffold.errors import AnswerError, DestinationError, DirtyRepoError, GitError, VerifyError
from scaffold.template_repo import init_template_repo
from scaffold.update import ANSWERS_FILE, UpdateService

from .conftest import copier_update_as_renovate, require_tool, run
from .toolchains import GO_ENV

GO_MOD = "module example.com/shop/orders\n\ngo 1.24\n"

GO_MAIN = """\
package main

import (
\t"log"
\t"net/http"
)

func newMux() *http.ServeMux {
\tmux := http.NewServeMux()
\tmux.HandleFunc("GET /orders", func(w http.ResponseWriter, _ *http.Request) {
\t\t_, _ = w.Write([]byte("no orders"))
\t})
\treturn mux
}

func main() {
\tvar handler http.Handler = newMux()
\tlog.Fatal(http.ListenAndServe(":8080", handler))
}
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

# A module on an older OpenTelemetry family: otel v1.44, contrib v0.69 with a log bridge, and
# a contrib module the template does not use (runtime). main.go already wraps its handler
# with otelhttp.
LEGACY_GO_MOD = """\
module example.com/shop/legacy

go 1.25.0

require (
\tgo.opentelemetry.io/contrib/bridges/otelslog v0.19.0
\tgo.opentelemetry.io/contrib/instrumentation/net/http/otelhttp v0.69.0
\tgo.opentelemetry.io/contrib/instrumentation/runtime v0.69.0
\tgo.opentelemetry.io/otel v1.44.0
\tgo.opentelemetry.io/otel/sdk v1.44.0
)
"""

LEGACY_MAIN = """\
package main

import (
\t"log"
\t"log/slog"
\t"net/http"

\t"go.opentelemetry.io/contrib/bridges/otelslog"
\t"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
\t"go.opentelemetry.io/contrib/instrumentation/runtime"
\t"go.opentelemetry.io/otel"
\tsdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
\totel.SetTracerProvider(sdktrace.NewTracerProvider())
\tif err := runtime.Start(); err != nil {
\t\tlog.Fatal(err)
\t}
\tlogger := slog.New(otelslog.NewHandler("legacy"))
\tlogger.Info("starting")
\tmux := http.NewServeMux()
\tmux.HandleFunc("GET /orders", func(w http.ResponseWriter, _ *http.Request) {
\t\t_, _ = w.Write([]byte("none"))
\t})
\thandler := otelhttp.NewHandler(mux, "legacy")
\tlog.Fatal(http.ListenAndServe(":8080", handler))
}
"""

# The module's own use of the OpenTelemetry logs API of otel/log v0.20, which v1.47 dropped.
LEGACY_AUDIT = """\
package main

import (
\t"context"

\totellog "go.opentelemetry.io/otel/log"
\t"go.opentelemetry.io/otel/log/global"
)

// audit records an audit event through the OpenTelemetry logs API.
func audit(ctx context.Context, what string) {
\tvar record otellog.Record
\trecord.SetBody(otellog.StringValue(what))
\tglobal.Logger("legacy").Emit(ctx, record)
}
"""

# Mains of other shapes, in one module without a domain in its path: one with an `err` of its
# own and no ctx, one that ends in os.Exit, one serving http.DefaultServeMux, and one that
# records a span and ends in log.Fatal (to see the span flushed before the exit).
SHAPES_GO_MOD = "module httpbin-instrumentation\n\ngo 1.26.0\n"

SHAPES: Mapping[str, str] = {
    "cmd/witherr/main.go": """\
package main

import (
\t"errors"
\t"log"
\t"net/http"
)

func main() {
\tvar err error
\tif err = errors.Join(); err != nil {
\t\tlog.Fatal(err)
\t}
\tvar handler http.Handler = http.NotFoundHandler()
\terr = http.ListenAndServe(":8080", handler)
\tlog.Fatal(err)
}
""",
    "cmd/exits/main.go": """\
package main

import (
\t"fmt"
\t"net/http"
\t"os"
)

func run() int {
\tvar handler http.Handler = http.NotFoundHandler()
\tif err := http.ListenAndServe(":8080", handler); err != nil {
\t\tfmt.Fprintln(os.Stderr, err)
\t\treturn 1
\t}
\treturn 0
}

func main() {
\tos.Exit(run())
}
""",
    "cmd/defaultmux/main.go": """\
package main

import (
\t"log"
\t"net/http"
)

func main() {
\thttp.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
\tvar handler http.Handler = http.DefaultServeMux
\tlog.Fatal(http.ListenAndServe(":8080", handler))
}
""",
    "cmd/flusher/main.go": """\
package main

import (
\t"context"
\t"log"

\t"go.opentelemetry.io/otel"
)

func main() {
\t_, span := otel.Tracer("flusher").Start(context.Background(), "flushed-before-exit")
\tspan.End()
\tlog.Fatal("done")
}
""",
}

# A module with gorilla/mux and chi routers, and a test that serves a route through them.
ROUTERS_GO_MOD = """\
module example.com/shop/routed

go 1.26.0

require (
\tgithub.com/go-chi/chi/v5 v5.2.5
\tgithub.com/gorilla/mux v1.8.1
)
"""

ROUTERS: Mapping[str, str] = {
    "cmd/muxsvc/main.go": """\
package main

import (
\t"log"
\t"net/http"

\t"github.com/gorilla/mux"
)

func newRouter() http.Handler {
\trouter := mux.NewRouter()
\trouter.HandleFunc("/items/{id}", func(w http.ResponseWriter, _ *http.Request) {}).Methods(http.MethodGet)
\t// ROUTE
\treturn router
}

func main() {
\tvar handler = newRouter()
\tlog.Fatal(http.ListenAndServe(":8080", handler))
}
""",
    "cmd/chisvc/main.go": """\
package main

import (
\t"log"
\t"net/http"

\t"github.com/go-chi/chi/v5"
)

func newRouter() http.Handler {
\trouter := chi.NewRouter()
\t// ROUTE
\trouter.Route("/items", func(r chi.Router) {
\t\tr.Get("/{id}", func(w http.ResponseWriter, _ *http.Request) {})
\t})
\treturn router
}

func main() {
\tvar handler = newRouter()
\tlog.Fatal(http.ListenAndServe(":8080", handler))
}
""",
}

ROUTE_TEST = """\
package main

import (
\t"context"
\t"net/http"
\t"net/http/httptest"
\t"testing"

\t"go.opentelemetry.io/otel/sdk/trace/tracetest"

\t"example.com/shop/routed/internal/telemetry"
)

func TestTheRouteNamesTheSpan(t *testing.T) {
\tt.Setenv("TELEMETRY_ADMIN_ADDR", "off")
\tt.Setenv("OTEL_TRACES_SAMPLER", "always_on")
\tspans := tracetest.NewSpanRecorder()
\tshutdown, err := telemetry.Setup(context.Background(), telemetry.Config{SpanProcessor: spans})
\tif err != nil {
\t\tt.Fatal(err)
\t}
\tdefer shutdown(context.Background())

\thandler := telemetry.Middleware()(newRouter())
\thandler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/items/42", nil))

\tended := spans.Ended()
\tif len(ended) != 1 {
\t\tt.Fatalf("%d spans", len(ended))
\t}
\tif ended[0].Name() != "GET /items/{id}" {
\t\tt.Errorf("span name %q", ended[0].Name())
\t}
\tfor _, kv := range ended[0].Attributes() {
\t\tif kv.Key == "http.route" && kv.Value.AsString() == "/items/{id}" {
\t\t\treturn
\t\t}
\t}
\tt.Errorf("no http.route /items/{id} in %v", ended[0].Attributes())
}
"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def _commit(path: Path, message: str = "import") -> None:
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", message)


def _repo(path: Path, files: Mapping[str, str], tidy: bool = False) -> Path:
    """A git repository at `path` holding `files` (relative path -> text), committed."""
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text, encoding="utf-8")
    if tidy:
        run(["go", "mod", "tidy"], path, GO_ENV)
    _commit(path)
    return path


def _go_project(path: Path, module: str = "example.com/shop/orders") -> Path:
    return _repo(
        path,
        {
            "go.mod": GO_MOD.replace("example.com/shop/orders", module),
            "main.go": GO_MAIN,
            "main_test.go": GO_TEST,
        },
    )


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


def _state(path: Path) -> tuple[str, str, dict[str, bytes]]:
    """Everything `git status` and the disk say, ignored files and the index included."""
    status = _git(path, "status", "--porcelain", "--ignored", "--untracked-files=all")
    return status, _git(path, "ls-files", "-s"), _tree(path)


def _steps(wiring: Sequence[WiringStep]) -> dict[str, WiringStep]:
    steps: dict[str, WiringStep] = {}
    for step in wiring:
        steps.setdefault(step.key, step)
    return steps


def _paste(main: str, wiring: Sequence[WiringStep]) -> str:
    """A main with the printed wiring pasted in, as a developer would follow it.

    The import goes into the import block, the setup first into main, the handler line where
    the main marks its handler, a route step where it marks its router, and the exit pattern
    wherever main ends with os.Exit or log.Fatal once the telemetry is set up.
    """
    steps = _steps(wiring)
    exit_code = steps["exit"].code
    out: list[str] = []
    in_main = False
    for line in main.splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if line == "import (":
            out += [line, *(f"\t{code}" for code in steps["import"].code)]
        elif line.startswith("func main() {"):
            in_main = True
            out += [line, *(f"\t{code}" for code in steps["setup"].code)]
        elif stripped == "// ROUTE":
            route = next(s for s in wiring if s.key == "route" and _router_of(main) in s.where)
            out += [indent + code for code in route.code]
        elif in_main and (stripped.startswith("log.Fatal(") or stripped.startswith("os.Exit(")):
            called = re.fullmatch(r"(log\.Fatal|os\.Exit)\((\w[\w.]*\(.*\))\)", stripped)
            if called:
                # log.Fatal(serve()) or os.Exit(run()): the call, the flush, the exit, as the
                # printed pattern does it.
                pattern = "\n".join(exit_code).replace("server.ListenAndServe()", called[2])
                pattern = pattern.replace("log.Fatal(", f"{called[1]}(")
                out += [indent + code for code in pattern.splitlines()]
            else:
                out += [indent + "stopTelemetry()", line]
        else:
            out.append(line)
        if line == "}":
            in_main = False
    return "\n".join(_wrap(line, steps["handler"].code[0]) for line in out) + "\n"


def _wrap(line: str, wrapped: str) -> str:
    """The server's handler argument wrapped as printed (`telemetry.Middleware()(handler)`)."""
    served = re.search(r'ListenAndServe\(":8080", (\w+)\)', line)
    if not served:
        return line
    return line.replace(
        served[0], f'ListenAndServe(":8080", {wrapped.replace("handler", served[1])})'
    )


def _router_of(main: str) -> str:
    return "gorilla/mux" if "gorilla/mux" in main else "chi"


# -- compile tier: Go ----------------------------------------------------------------------------


@pytest.mark.compile
def test_adopt_into_an_existing_go_module_builds_and_tests(tmp_path: Path) -> None:
    require_tool("go")
    project = _go_project(tmp_path / "orders")

    result = Adopt(project).run()

    assert result.language == "go"
    assert result.answers["service_name"] == "orders"
    assert result.answers["module"] == "example.com/shop/orders"
    assert result.answers["scope"] == "package"
    assert "internal/telemetry/setup.go" in result.files
    assert ANSWERS_FILE in result.files
    assert not any(f.startswith(("cmd/", "README")) for f in result.files)
    assert any(
        d.startswith("go.opentelemetry.io/otel v1.47.0 (added)") for d in result.dependencies
    )
    assert result.verified == ("go build ./...", "go vet ./internal/telemetry/...")
    # Only the telemetry package, the answers file and the module files changed.
    assert _status(project) == {*result.files, "go.mod", "go.sum"}
    assert "go 1.26" in (project / "go.mod").read_text()
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert answers["module"] == "example.com/shop/orders"
    assert answers["scope"] == "package"
    assert answers["_src_path"]

    assert _steps(result.wiring)["import"].code == ('"example.com/shop/orders/internal/telemetry"',)
    (project / "main.go").write_text(_paste(GO_MAIN, result.wiring))
    run(["gofmt", "-l", "."], project)
    run(["go", "vet", "./..."], project, GO_ENV)
    out = run(["go", "test", "./..."], project, GO_ENV)
    assert "example.com/shop/orders/internal/telemetry" in out, out


@pytest.mark.compile
def test_an_older_otel_family_moves_together_and_the_module_still_builds(tmp_path: Path) -> None:
    """otel v1.44 + contrib v0.69 + the otelslog bridge: everything moves, nothing is left behind."""
    require_tool("go")
    project = _repo(
        tmp_path / "legacy", {"go.mod": LEGACY_GO_MOD, "main.go": LEGACY_MAIN}, tidy=True
    )
    before = _gomod.read_mod(project)
    assert before.version("go.opentelemetry.io/otel/log") == "v0.20.0"

    result = Adopt(project).run()

    after = _gomod.read_mod(project)
    moved = {
        "go.opentelemetry.io/otel": "v1.47.0",
        "go.opentelemetry.io/otel/sdk": "v1.47.0",
        "go.opentelemetry.io/otel/log": "v1.47.0",
        "go.opentelemetry.io/contrib/bridges/otelslog": "v0.21.0",
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp": "v0.72.0",
        # Not a module of the template: its newest release built on otel v1.47.
        "go.opentelemetry.io/contrib/instrumentation/runtime": "v0.72.0",
    }
    for module, version in moved.items():
        assert after.version(module) == version, module
        line = f"{module} {before.version(module)} -> {version}"
        assert any(d.startswith(line) for d in result.dependencies), (line, result.dependencies)
    family = {m: v for m, (v, _) in after.requires.items() if _gomod.in_family(m)}
    assert all(_gomod.version_key(v) >= _gomod.version_key("v0.21.0") for v in family.values()), (
        family
    )
    assert result.notes == ("raised the go directive from 1.25.0 to 1.26.0",)
    [warning] = result.warnings
    at = LEGACY_MAIN.splitlines().index('\thandler := otelhttp.NewHandler(mux, "legacy")') + 1
    assert f"main.go:{at} (otelhttp.NewHandler)" in warning and "two server spans" in warning
    summary = "\n".join(result.summary())
    assert "go.opentelemetry.io/contrib/bridges/otelslog v0.19.0 -> v0.21.0" in summary
    assert "Warning: the code already instruments HTTP servers" in summary
    assert _status(project) == {*result.files, "go.mod", "go.sum"}

    # The printed wiring, pasted as printed (the otelhttp wrapper removed, as warned).
    wrapped = _steps(result.wiring)["handler"].code[0].replace("(handler)", "(mux)")
    main = LEGACY_MAIN.replace('otelhttp.NewHandler(mux, "legacy")', wrapped)
    main = main.replace('\t"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"\n', "")
    (project / "main.go").write_text(_paste(main, result.wiring))
    run(["go", "mod", "tidy"], project, GO_ENV)
    run(["go", "vet", "./..."], project, GO_ENV)
    run(["go", "test", "./..."], project, GO_ENV)


@pytest.mark.compile
def test_a_call_the_family_move_breaks_is_named_and_everything_is_put_back(
    tmp_path: Path,
) -> None:
    require_tool("go")
    project = _repo(
        tmp_path / "legacy",
        {
            "go.mod": LEGACY_GO_MOD,
            "main.go": LEGACY_MAIN,
            "audit.go": LEGACY_AUDIT,
            ".gitignore": "/bin/\n",
        },
        tidy=True,
    )
    (project / "bin").mkdir()
    (project / "bin" / "legacy").write_text("an ignored build output\n")
    before = _state(project)

    with pytest.raises(VerifyError) as caught:
        Adopt(project).run()

    error = caught.value
    assert error.exit_code == 17
    assert error.command == "go build ./..."
    assert "audit.go:13" in error.first_error and "otellog.StringValue" in error.first_error
    assert "(go.opentelemetry.io/otel/log v0.20.0 -> v1.47.0)" in str(error)
    assert "nothing was changed" in str(error) and "--no-verify" in str(error)
    assert _state(project) == before

    # A module that did not build before adopt is told so, not blamed on the move.
    (project / "audit.go").write_text(LEGACY_AUDIT.replace("otellog.StringValue(what)", "what"))
    _commit(project, "break the build")
    before = _state(project)
    with pytest.raises(VerifyError, match="does not build even without the telemetry package"):
        Adopt(project).run()
    assert _state(project) == before

    # --no-verify keeps the change for the developer to finish.
    (project / "audit.go").write_text(LEGACY_AUDIT)
    _commit(project, "fix the build")
    result = Adopt(project, verify=False).run()
    assert result.verified == ()
    assert "Not verified (--no-verify)" in "\n".join(result.summary())
    assert "internal/telemetry/setup.go" in _status(project)


@pytest.mark.compile
def test_printed_go_wiring_compiles_in_mains_of_every_shape_and_flushes_before_exit(
    tmp_path: Path,
) -> None:
    """No ctx or err assumed, os.Exit and log.Fatal, a module path without a domain."""
    require_tool("go")
    project = _repo(tmp_path / "shapes", {"go.mod": SHAPES_GO_MOD, **SHAPES})

    result = CliRunner().invoke(cli, ["adopt", str(project)])

    assert result.exit_code == 0, result.output
    adopted = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert adopted["module"] == "httpbin-instrumentation"
    assert adopted["service_name"] == "httpbin-instrumentation"
    printed = result.output.split("Wire it in:\n")[1].split("\nThen build")[0]
    assert '  "httpbin-instrumentation/internal/telemetry"\n' in printed
    assert "  stopTelemetry := telemetry.Start()\n  defer stopTelemetry()\n" in printed
    assert "ctx" not in printed and "err :=" not in printed

    steps = _printed_steps(printed)
    for rel, main in SHAPES.items():
        (project / rel).write_text(_paste(main, steps))
    # The same main without the exit step: what is lost without it.
    unflushed = project / "cmd" / "unflushed" / "main.go"
    unflushed.parent.mkdir()
    flusher = (project / "cmd" / "flusher" / "main.go").read_text()
    assert '\tstopTelemetry()\n\tlog.Fatal("done")' in flusher
    unflushed.write_text(flusher.replace("\tstopTelemetry()\n\tlog.Fatal", "\tlog.Fatal"))
    run(["gofmt", "-l", "."], project)
    run(["go", "vet", "./..."], project, GO_ENV)
    out = run(["go", "build", "-o", str(tmp_path / "bin") + "/", "./..."], project, GO_ENV)
    assert out == ""

    env = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_TRACES_SAMPLER": "always_on",
        "TELEMETRY_ADMIN_ADDR": "off",
    }
    for binary, flushed in (("flusher", True), ("unflushed", False)):
        proc = subprocess.run(
            [str(tmp_path / "bin" / binary)],
            env={**GO_ENV, **env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 1 and "done" in proc.stderr
        assert ("flushed-before-exit" in proc.stdout) is flushed, (binary, proc.stdout)


def _printed_steps(printed: str) -> list[WiringStep]:
    """The wiring steps back from the printed text: a `// where` line, then its code."""
    steps: list[WiringStep] = []
    keys = {"in main.go": "import", "first thing": "setup", "wrap the": "handler"}
    for block in re.split(r"\n(?=  // )", printed.strip("\n")):
        head, *code = block.splitlines()
        where = head.strip().removeprefix("// ")
        key = next((k for prefix, k in keys.items() if where.startswith(prefix)), "")
        key = key or ("exit" if "os.Exit" in where else "route")
        steps.append(WiringStep(key, where, tuple(line[2:] for line in code)))
    return steps


@pytest.mark.compile
def test_gorilla_mux_and_chi_routes_name_spans_through_the_printed_adapter(tmp_path: Path) -> None:
    require_tool("go")
    files = {"go.mod": ROUTERS_GO_MOD, **ROUTERS}
    project = _repo(tmp_path / "routed", files, tidy=True)

    result = Adopt(project).run()

    routes = [s for s in result.wiring if s.key == "route"]
    assert [s.where.split(":")[0] for s in routes] == ["gorilla/mux", "chi"]
    assert result.warnings == ()
    for rel, main in ROUTERS.items():
        (project / rel).write_text(_paste(main, result.wiring))
        (project / rel).with_name("main_test.go").write_text(ROUTE_TEST)
    run(["gofmt", "-l", "."], project)
    run(["go", "vet", "./..."], project, GO_ENV)
    out = run(
        ["go", "test", "-v", "-run", "TestTheRouteNamesTheSpan", "./cmd/..."], project, GO_ENV
    )
    assert out.count("--- PASS: TestTheRouteNamesTheSpan") == 2, out


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
    assert '  telemetry "example.com/shop/orders/internal/otel"\n' in adopted.output
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


def release_everywhere(template: Path, version: str = "v2.0.0") -> None:
    """A release that changes the services' main, README and the policy, in both languages."""
    from .test_update import _release_v2

    for rel, line in (
        ("go/cmd/{{ service_name }}/main.go.jinja", "\n// Served by the v2 template.\n"),
        ("rust/src/main.rs.jinja", "\n// Served by the v2 template.\n"),
    ):
        file = template / rel
        file.write_text(file.read_text(encoding="utf-8") + line, encoding="utf-8")
    for rel in ("go/README.md.jinja", "rust/README.md.jinja"):
        file = template / rel
        file.write_text("<!-- v2 -->\n" + file.read_text(encoding="utf-8"), encoding="utf-8")
    _git(template, "add", "-A")
    _git(template, "commit", "-q", "-m", "v2: main and README")
    _release_v2(template)
    if version != "v2.0.0":
        _git(template, "tag", version)


@pytest.mark.compile
@pytest.mark.parametrize("how", ["scaffold", "copier"])
def test_a_release_reaches_an_adopted_go_module_and_changes_nothing_of_its_own(
    tmp_path: Path, how: str
) -> None:
    """The project's own cmd/orders/main.go and README.md share the template's paths."""
    require_tool("go")
    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    project = _repo(
        tmp_path / "orders",
        {
            "go.mod": GO_MOD,
            "cmd/orders/main.go": GO_MAIN,
            "README.md": "# Orders\n\nThe shop's order service.\n",
        },
    )
    Adopt(project, template=str(template)).run()
    _commit(project, "adopt otel-scaffold telemetry")
    before = _tree(project)
    release_everywhere(template)

    if how == "scaffold":
        result = UpdateService(project).run()
        assert result.conflicts == () and result.to_version == "v2.0.0"
    else:
        copier_update_as_renovate(project, "v2.0.0")

    changed = _status(project)
    assert "internal/telemetry/policy.go" in changed and ANSWERS_FILE in changed
    assert all(p.startswith("internal/telemetry/") or p == ANSWERS_FILE for p in changed), changed
    after = _tree(project)
    for own in ("cmd/orders/main.go", "README.md", "go.mod", "go.sum"):
        assert after[own] == before[own], own
    assert (
        "v2" not in after["README.md"].decode()
        and b"v2 template" not in after["cmd/orders/main.go"]
    )
    assert yaml.safe_load((project / ANSWERS_FILE).read_text())["_commit"] == "v2.0.0"
    run(["go", "build", "./..."], project, GO_ENV)


# -- unit: no toolchain --------------------------------------------------------------------------


@pytest.fixture
def no_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adopt without the go command: the dependencies are left as they are, nothing is built."""
    import scaffold.adopt as adopt_module

    monkeypatch.setattr(adopt_module, "_require_go", lambda: None)
    monkeypatch.setattr(_gomod, "reconcile", lambda *_: ([], []))


def test_language_is_detected_or_asked_for(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(GO_MOD)
    assert detect_language(tmp_path) == "go"
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "x"\n')
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
        ("httpbin-instrumentation", "httpbin-instrumentation"),
    ],
)
def test_service_name_is_the_last_module_element(module: str, name: str) -> None:
    assert service_name_of(module) == name


def test_go_versions_compare_numerically() -> None:
    key = _gomod.version_key
    assert key("v1.10.0") > key("v1.9.9")
    assert key("v1.2.3") > key("v1.2.3-rc.1")
    assert key("v0.0.0-20260928230214-8a89bd6388cc") > key("v0.0.0-20250101000000-000000000000")
    assert key("1.26.0") > key("1.24")


def test_the_first_compiler_error_and_the_module_behind_it() -> None:
    output = (
        "# example.com/shop/legacy\n"
        "./audit.go:13:25: undefined: otellog.StringValue\n"
        "./audit.go:14:2: undefined: other\n"
    )
    assert _gomod.first_error(output) == "./audit.go:13:25: undefined: otellog.StringValue"
    cached = (
        "/root/go/pkg/mod/go.opentelemetry.io/contrib/bridges/otelslog@v0.19.0/handler.go:1:2: x"
    )
    assert _gomod.dependency_of(cached) == "go.opentelemetry.io/contrib/bridges/otelslog@v0.19.0"
    assert _gomod.dependency_of(output) is None


def test_family_membership() -> None:
    assert _gomod.in_family("go.opentelemetry.io/otel")
    assert _gomod.in_family("go.opentelemetry.io/contrib/bridges/otelslog")
    assert not _gomod.in_family("go.opentelemetry.io/otelx")
    assert not _gomod.in_family("go.opentelemetry.io/proto/otlp")


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


def test_a_module_other_than_go_mod_or_another_scope_is_refused(tmp_path: Path) -> None:
    project = _go_project(tmp_path / "p")
    with pytest.raises(AnswerError, match=r"module path of go\.mod"):
        Adopt(project, data={"module": "example.com/other"}).run()
    with pytest.raises(AnswerError, match="scope: package"):
        Adopt(project, data={"scope": "service"}).run()


def test_a_failure_after_writing_puts_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_go: None
) -> None:
    project = _go_project(tmp_path / "p")
    before = _state(project)

    def broken(path: Path, *_: Any) -> Any:
        (path / "go.mod").write_text("garbage\n")
        raise GitError("boom")

    monkeypatch.setattr(_gomod, "reconcile", broken)
    with pytest.raises(GitError, match="boom"):
        Adopt(project).run()
    assert _state(project) == before
    assert not (project / "internal").exists()


def test_scope_package_is_recorded_and_the_render_holds_nothing_else(
    tmp_path: Path, no_go: None
) -> None:
    project = _go_project(tmp_path / "p")
    result = Adopt(project, verify=False).run()
    assert result.answers["scope"] == "package"
    assert all(f.startswith("internal/telemetry/") or f == ANSWERS_FILE for f in result.files)
    assert yaml.safe_load((project / ANSWERS_FILE).read_text())["scope"] == "package"


@pytest.mark.parametrize("rule", [".*\n!.gitignore\n", "/.copier-answers.yml\n", "internal/\n"])
def test_written_files_a_gitignore_hides_are_staged_and_said(
    tmp_path: Path, no_go: None, rule: str
) -> None:
    project = _go_project(tmp_path / "p")
    (project / ".gitignore").write_text(rule)
    _commit(project, "ignore dotfiles")

    result = Adopt(project, verify=False).run()

    hidden = (
        [f for f in result.files if f == ANSWERS_FILE]
        if "internal" not in rule
        else [f for f in result.files if f != ANSWERS_FILE]
    )
    assert list(result.staged) == hidden
    staged = _git(project, "diff", "--cached", "--name-only").splitlines()
    assert staged == hidden
    summary = "\n".join(result.summary())
    assert "git add -f" in summary and hidden[0] in summary


def test_a_failed_build_after_staging_puts_the_index_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_go: None
) -> None:
    import scaffold.adopt as adopt_module

    project = _go_project(tmp_path / "p")
    (project / ".gitignore").write_text(".*\n!.gitignore\n")
    _commit(project, "ignore dotfiles")
    before = _state(project)

    def fails(*_: Any) -> tuple[str, ...]:
        assert _git(project, "diff", "--cached", "--name-only") == f"{ANSWERS_FILE}\n"
        raise VerifyError(
            "it does not build", command="go build ./...", first_error="x", output="", hint="h"
        )

    monkeypatch.setattr(Adopt, "_verify", fails)
    monkeypatch.setattr(adopt_module, "_broken_before", lambda *_: None)
    with pytest.raises(VerifyError, match="it does not build"):
        Adopt(project).run()
    assert _state(project) == before


def test_package_dir_moves_the_files_and_the_printed_import(tmp_path: Path, no_go: None) -> None:
    project = _go_project(tmp_path / "p")

    result = Adopt(project, data={"telemetry_dir": "pkg/otel"}, verify=False).run()

    assert "pkg/otel/setup.go" in result.files
    assert all(f.startswith("pkg/otel/") or f == ANSWERS_FILE for f in result.files)
    assert not (project / "internal").exists()
    assert result.answers["telemetry_dir"] == "pkg/otel"
    assert _steps(result.wiring)["import"].code == ('telemetry "example.com/shop/orders/pkg/otel"',)
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


def test_wiring_steps_print_as_code_under_a_comment(tmp_path: Path, no_go: None) -> None:
    project = _go_project(tmp_path / "p")
    result = Adopt(project, verify=False).run()
    summary = result.summary()
    at = summary.index("Wire it in:")
    assert summary[at + 1 : at + 5] == [
        "  // in main.go's imports",
        '  "example.com/shop/orders/internal/telemetry"',
        "  // first thing in main: set up, and flush when main returns",
        "  stopTelemetry := telemetry.Start()",
    ]
    assert not any(s.key == "route" for s in result.wiring)


def release_a_new_dependency(template: Path) -> None:
    """v2.0.0: the Go package and the Rust module start to use a module and a crate more."""
    go = template / "go"
    (go / "{{ telemetry_dir }}" / "ids.go.jinja").write_text(
        'package telemetry\n\nimport "github.com/google/uuid"\n\n'
        "// NewID returns a random identifier.\nfunc NewID() string { return uuid.NewString() }\n"
    )
    gomod = go / "go.mod.jinja"
    text = gomod.read_text(encoding="utf-8")
    text = text.replace("\tgithub.com/google/uuid v1.6.0 // indirect\n", "")
    text = text.replace("require (\n", "require (\n\tgithub.com/google/uuid v1.6.0\n", 1)
    gomod.write_text(text, encoding="utf-8")
    rust = template / "rust"
    (rust / "{{ telemetry_dir }}" / "ids.rs").write_text(
        "//! Identifiers.\n\n/// A decimal rendering of `n`.\npub fn id(n: u64) -> String {\n"
        "    itoa::Buffer::new().format(n).to_owned()\n}\n"
    )
    cargo = rust / "Cargo.toml.jinja"
    text = cargo.read_text(encoding="utf-8")
    cargo.write_text(text.replace('http = "1"\n', 'http = "1"\nitoa = "1"\n', 1), encoding="utf-8")
    mod = rust / "{{ telemetry_dir }}" / "mod.rs.jinja"
    text = mod.read_text(encoding="utf-8")
    mod.write_text(text.replace("pub mod defaults;\n", "pub mod defaults;\npub mod ids;\n", 1))
    _git(template, "add", "-A")
    _git(template, "commit", "-q", "-m", "v2: identifiers")
    _git(template, "tag", "v2.0.0")


@pytest.mark.compile
def test_an_update_that_needs_a_new_dependency_reconciles_go_mod(tmp_path: Path) -> None:
    require_tool("go")
    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    project = _go_project(tmp_path / "orders")
    Adopt(project, template=str(template)).run()
    _commit(project, "adopt otel-scaffold telemetry")
    assert "\tgithub.com/google/uuid v1.6.0 // indirect\n" in (project / "go.mod").read_text()
    release_a_new_dependency(template)

    result = UpdateService(project).run()

    assert result.conflicts == ()
    kinds = {change.path: change.kind for change in result.files}
    assert kinds["internal/telemetry/ids.go"] == "added" and kinds["go.mod"] == "modified"
    assert (
        "Dependencies (the new package needs them):" in result.summary() or not result.dependencies
    )
    gomod = (project / "go.mod").read_text()
    assert "\tgithub.com/google/uuid v1.6.0\n" in gomod, gomod
    assert all(
        p.startswith("internal/telemetry/") or p in (ANSWERS_FILE, "go.mod", "go.sum")
        for p in _status(project)
    )
    run(["go", "build", "./..."], project, GO_ENV)
    run(["go", "vet", "./internal/telemetry/..."], project, GO_ENV)


def test_a_service_adopted_before_the_scope_answer_takes_the_package_alone_once_it_says_so(
    tmp_path: Path,
) -> None:
    """The migration docs/upgrade.md gives: add `scope: package` to the answers file."""
    import re as regex
    import shutil

    from scaffold.render import NewService

    from .test_update import _release_v2

    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    # v1.0.0 as released before the scope answer: no `_exclude`, no `scope` question.
    config = template / "copier.yml"
    text = config.read_text(encoding="utf-8")
    text = regex.sub(r"(?m)^_exclude:\n(  - [^\n]*\n)+", "", text)
    text = regex.sub(r"(?ms)^# What the project holds.*?^scope:\n(  [^\n]*\n)+\n", "", text)
    assert "_exclude" not in text and "\nscope:" not in text
    config.write_text(text, encoding="utf-8")
    _git(template, "commit", "-q", "-am", "v1 without scope")
    _git(template, "tag", "-f", "v1.0.0")
    # What adopt wrote then: the package and the answers file of a whole render, copied.
    project = _repo(
        tmp_path / "orders",
        {"go.mod": GO_MOD, "cmd/orders/main.go": GO_MAIN, "README.md": "# Orders\n"},
    )
    scratch = tmp_path / "scratch"
    NewService(
        dest=scratch,
        data={"language": "go", "service_name": "orders", "module": "example.com/shop/orders"},
        template=str(template),
        vcs_ref="v1.0.0",
        use_defaults=True,
        git_init=False,
    ).run()
    shutil.copytree(scratch / "internal", project / "internal")
    shutil.copy(scratch / ANSWERS_FILE, project / ANSWERS_FILE)
    answers = (project / ANSWERS_FILE).read_text()
    assert "scope" not in answers
    (project / ANSWERS_FILE).write_text(answers + "scope: package\n")
    _commit(project, "adopted, then told the answers file its scope")
    before = _tree(project)
    # v2.0.0: today's template set (scope and _exclude back), a new policy, a new main.
    shutil.rmtree(template / "go")
    shutil.copytree(Path(__file__).resolve().parent.parent / "templates" / "go", template / "go")
    config.write_text(
        (Path(__file__).resolve().parent.parent / "templates" / "copier.yml").read_text(
            encoding="utf-8"
        ),
        encoding="utf-8",
    )
    main = template / "go" / "cmd" / "{{ service_name }}" / "main.go.jinja"
    main.write_text(main.read_text(encoding="utf-8") + "\n// v2\n", encoding="utf-8")
    _git(template, "add", "-A")
    _git(template, "commit", "-q", "-m", "today's template set")
    _release_v2(template)

    result = UpdateService(project).run()

    assert result.conflicts == ()
    changed = _status(project)
    assert "internal/telemetry/policy.go" in changed
    assert all(p.startswith("internal/telemetry/") or p == ANSWERS_FILE for p in changed), changed
    after = _tree(project)
    for own in ("cmd/orders/main.go", "README.md", "go.mod"):
        assert after[own] == before[own], own
    assert yaml.safe_load((project / ANSWERS_FILE).read_text())["scope"] == "package"
