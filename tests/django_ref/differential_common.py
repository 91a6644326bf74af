"""Helpers shared by the differential tests (test_differential.py for run-cases,
test_project_differential.py for run-project): where the sandbox binary and shared/ are,
running a runner and parsing its JSON, known-gaps lists, SQL formatting for reports, and the
one normalisation applied before comparing run-project output.

Django never runs in the pytest process itself, only in subprocesses (seed.py and the
django_run_*.py runners), so both sides always see the same seeded file, each its own copy.
"""
import difflib
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
RUN_TIMEOUT = 900  # seconds; a whole case file, generous for a debug build on 2 cores


def sandbox_bin():
    """SANDBOX_BIN, else $CARGO_TARGET_DIR/release/sandbox, else target/release/sandbox."""
    if os.environ.get("SANDBOX_BIN"):
        return Path(os.environ["SANDBOX_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or "target")
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "release" / "sandbox"


def require_sandbox_bin():
    """The binary, or a test failure (never a skip: a skipped suite would look green)."""
    binary = sandbox_bin()
    if not binary.exists():
        pytest.fail(
            f"sandbox binary not found at {binary}.\n"
            "Build it (cargo build --release -p <crate with bin 'sandbox'>) or point SANDBOX_BIN "
            "at it. The differential tests never skip: without the binary they check nothing.",
            pytrace=False,
        )
    return binary


def sample_app_dir():
    """shared/ sits beside the repo checkout (both locally and in CI)."""
    candidates = [os.environ.get("SAMPLE_APP_DIR"), REPO_ROOT.parent / "shared" / "sample_app",
                  Path("/work/shared/sample_app")]
    for c in candidates:
        if c and (Path(c) / "examples.json").exists():
            return Path(c)
    pytest.fail("shared/sample_app not found (looked at %s); set SAMPLE_APP_DIR"
                % [str(c) for c in candidates if c], pytrace=False)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_name_list(path):
    """Names one per line; '#' starts a comment. A missing file is an empty list."""
    path = Path(path)
    if not path.exists():
        return set()
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line)
    return names


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(cmd, what, env=None):
    """Run a runner and parse its JSON; any failure shows the runner's own stderr. `env`
    adds variables (e.g. TMPDIR, to see what a run leaves behind)."""
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update({k: str(v) for k, v in env.items()})
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=full_env)
    if proc.returncode != 0:
        pytest.fail(f"{what} exited {proc.returncode}\n$ {' '.join(map(str, cmd))}\n"
                    f"--- stderr ---\n{proc.stderr[-5000:]}", pytrace=False)
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        pytest.fail(f"{what} printed invalid JSON ({exc})\n--- stdout (head) ---\n{proc.stdout[:3000]}"
                    f"\n--- stderr ---\n{proc.stderr[-3000:]}", pytrace=False)


def fmt_sql(sql, indent="    "):
    return "\n".join(f"{indent}{i + 1:2d}. {q}" for i, q in enumerate(sql)) or f"{indent}(none)"


def sql_diff(django_sql, sandbox_sql, indent="    "):
    """Unified diff of two SQL lists, one statement a line; [] when they are equal. Statements
    are long single lines, so for each position where both sides have a different statement
    the first differing column is shown too."""
    lines = [indent + d for d in
             difflib.unified_diff(django_sql, sandbox_sql, "django", "sandbox", lineterm="", n=1)]
    for i, (d, s) in enumerate(zip(django_sql, sandbox_sql)):
        if d != s:
            col = next((j for j, (a, b) in enumerate(zip(d, s)) if a != b), min(len(d), len(s)))
            lo = max(0, col - 40)
            lines += [f"{indent}statement {i + 1} first differs at column {col + 1}:",
                      f"{indent}  django : …{d[lo:col + 60]}",
                      f"{indent}  sandbox: …{s[lo:col + 60]}"]
    return lines


# ---------------------------------------------------------------- run-project normalisation

_SAVEPOINT = re.compile(r'"s\d+_x(\d+)"')
_PLAN_ROW = re.compile(r"(?m)^\d+ \d+ (\d+) (?=[A-Z])")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")


def normalize(value):
    """What cannot be equal by construction, made equal; applied to both sides alike.

    - savepoint names: Django's are "s<thread ident>_x<n>". The thread ident is the Python
      thread's, so it is masked; the counter n is kept (the runner restarts it per case);
    - EXPLAIN QUERY PLAN rows "<id> <parent> <notused> <detail>": id and parent are the
      engine's own numbering (README), so they are masked; the detail is compared;
    - object addresses in reprs ("<function <lambda> at 0x7f...>") are masked;
    - whitespace runs become one space, ends are stripped (bodies are collapsed anyway).
    Lists and dicts are normalised element by element; other values are left alone.
    """
    if isinstance(value, str):
        value = _SAVEPOINT.sub(r'"s<thread>_x\1"', value)
        value = _PLAN_ROW.sub(r"<id> <parent> \1 ", value)
        value = _ADDRESS.sub("0x?", value)
        return " ".join(value.split())
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- run-project summaries

def summarize_step(result, width=100):
    """One line saying what a run-project step did (project_expectations.json's format)."""
    def cut(text):
        return text if len(text) <= width else text[: width - 1] + "…"

    if "error" in result:
        return cut(f"ERROR {result['error']}")
    if "status" in result and "headers" in result:
        chain = "".join(f" <- {u} {s}" for u, s in result.get("redirect_chain", []))
        headers = ", ".join(f"{k}: {v}" for k, v in result["headers"].items() if k != "Content-Type")
        return cut(f"REQUEST {result['status']}{chain} q={result['n_queries']} [{headers}] {result['body']}".rstrip())
    if "status" in result:
        return cut(f"GET {result['status']} q={result['n_queries']} {result['body']}".rstrip())
    if "tests" in result:
        return "TEST " + "; ".join(
            f"{t['name']}={t['outcome']}" + (f" ({t['message'][:70]})" if t["message"] else "")
            for t in result["tests"])
    if "output" in result:
        return cut(f"RUN q={result['n_queries']} => {result['output']}")
    if result == {}:
        return "ADVANCE"
    return cut(f"UNKNOWN {json.dumps(result)}")


def summarize_case(result):
    """A case's outcome as a list of step lines; a case that did not load gives its error type
    only (import errors name absolute paths)."""
    if "error" in result:
        return [f"CASE ERROR {result['error'].split(':', 1)[0]}"]
    return [summarize_step(s) for s in result["steps"]]


# ---------------------------------------------------------------- run-project comparison

def step_label(step):
    if "request" in step:
        r = step["request"]
        return f"request {r.get('method', 'GET')} {r.get('path')}" + "".join(f" {k}={r[k]!r}" for k in ("data", "headers", "user", "follow") if k in r)
    if "get" in step:
        return f"get {step['get']}" + (f" as {step['user']}" if step.get("user") else "")
    if "run" in step:
        code = step["run"].replace("\n", "; ")
        return f"run {code[:100]}" + ("…" if len(code) > 100 else "")
    return " ".join(f"{k} {v}" for k, v in step.items())


def compare_step(dj, sb):
    """Lines describing how a (normalised) sandbox step differs from Django's; [] if equal."""
    if "error" in dj or "error" in sb:
        if dj.get("error") == sb.get("error"):
            return []
        return [f"  django : {dj.get('error') or '(no error) ' + str(sorted(dj))}",
                f"  sandbox: {sb.get('error') or '(no error) ' + str(sorted(sb))}"]
    lines = []
    for key in ("status", "n_queries"):
        if dj.get(key) != sb.get(key):
            lines.append(f"  {key}: django={dj.get(key)!r} sandbox={sb.get(key)!r}")
    for key in ("body", "output", "headers", "redirect_chain"):
        if dj.get(key) != sb.get(key):
            lines += [f"  django  {key}: {dj.get(key)!r}", f"  sandbox {key}: {sb.get(key)!r}"]
    if "sql" in dj or "sql" in sb:
        d_sql, s_sql = dj.get("sql", []), sb.get("sql", [])
        if d_sql != s_sql:
            lines += ["  django SQL:", fmt_sql(d_sql), "  sandbox SQL:", fmt_sql(s_sql),
                      "  SQL diff (django -> sandbox):"] + sql_diff(d_sql, s_sql)
    if "tests" in dj or "tests" in sb:
        d_t = [(t["name"], t["outcome"], t["message"]) for t in dj.get("tests", [])]
        s_t = [(t.get("name"), t.get("outcome"), t.get("message")) for t in sb.get("tests", [])]
        if d_t != s_t:
            lines.append("  tests (django -> sandbox):")
            lines += sql_diff([" | ".join(t) for t in d_t], [" | ".join(map(str, t)) for t in s_t])
    extra = set(sb) - set(dj)
    if not lines and extra:
        lines.append(f"  the sandbox step has keys Django's has not: {sorted(extra)}")
    return lines


def compare_project_case(case, dj, sb):
    """A failure report, or None when the sandbox matches Django."""
    name = case["name"]
    if sb is None:
        return f"{name}: the sandbox output has no case with this name"
    dj, sb = normalize(dj), normalize(sb)
    if "error" in dj or "error" in sb:
        d_kind = dj.get("error", "").split(":", 1)[0]
        s_kind = sb.get("error", "").split(":", 1)[0]
        if d_kind == s_kind:
            print(f"{name}: both fail to load\n  django : {dj['error']}\n  sandbox: {sb['error']}")
            return None
        return (f"{name}: the case loads on one side only\n"
                f"  django : {dj.get('error') or '(loads)'}\n  sandbox: {sb.get('error') or '(loads)'}")
    d_steps, s_steps = dj["steps"], sb.get("steps", [])
    if len(d_steps) != len(s_steps):
        return f"{name}: {len(d_steps)} steps from Django, {len(s_steps)} from the sandbox"
    report = []
    for i, (step, d, s) in enumerate(zip(case["steps"], d_steps, s_steps)):
        lines = compare_step(d, s)
        if lines:
            report.append(f"step {i + 1} ({step_label(step)}):\n" + "\n".join(lines))
    return f"{name}: sandbox differs from Django\n" + "\n".join(report) if report else None
