"""Differential tests: the Rust `sandbox` against real Django 5.2 on the same database.

    python3 -m pytest tests/django_ref            (from the repo root)

The sandbox binary is SANDBOX_BIN, else $CARGO_TARGET_DIR/release/sandbox, else
target/release/sandbox. Without it the comparison tests FAIL on purpose: a skipped
differential suite would look green while checking nothing.

Django runs only in subprocesses (seed.py, django_run_cases.py), so this process never
configures Django and both sides see exactly the same seeded file (each its own copy,
so neither can influence the other).

known_gaps.txt lists case names the sandbox does not support yet; they run as
strict xfail, so a gap that gets fixed fails the suite until it is removed from the list.
"""
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from differential_common import (HERE, fmt_sql, load_json, load_name_list, require_sandbox_bin, run,
                                 sample_app_dir, sha256, sql_diff)

CASES_FILE = HERE / "cases.json"
KNOWN_GAPS_FILE = HERE / "known_gaps.txt"


def load_cases():
    return load_json(CASES_FILE)


def load_known_gaps():
    return load_name_list(KNOWN_GAPS_FILE)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def django_results(seeded_db, tmp_path_factory):
    db = tmp_path_factory.mktemp("django") / "db.sqlite3"
    shutil.copyfile(seeded_db, db)
    out = run([sys.executable, HERE / "django_run_cases.py", "--db", db, CASES_FILE], "django_run_cases.py")
    return {c["name"]: c for c in out}


@pytest.fixture(scope="session")
def sandbox_run(seeded_db, tmp_path_factory):
    """One sandbox run over all cases; also records the DB file hash around it."""
    binary = require_sandbox_bin()
    db = tmp_path_factory.mktemp("sandbox") / "db.sqlite3"
    shutil.copyfile(seeded_db, db)
    before = sha256(db)
    scratch = tmp_path_factory.mktemp("sandbox-tmp")
    out = run([binary, "run-cases", "--db", db, CASES_FILE], f"sandbox ({binary})", env={"TMPDIR": scratch})
    wal = Path(str(db) + "-wal")
    return {
        "left_behind": sorted(p.name for p in scratch.iterdir()),
        "results": {c.get("name"): c for c in out},
        "hash_before": before,
        "hash_after": sha256(db),
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "db": db,
    }


# ---------------------------------------------------------------- comparison

def describe_render(i, dj, sb):
    lines = [f"render {i + 1}: n_queries django={dj['n_queries']} sandbox={sb.get('n_queries')}",
             f"  django  output: {dj['output']!r}",
             f"  sandbox output: {sb.get('output')!r}",
             "  django SQL:", fmt_sql(dj["sql"]),
             "  sandbox SQL:", fmt_sql(sb.get("sql", []))]
    diff = sql_diff(dj["sql"], sb.get("sql", []))
    if diff:
        lines += ["  SQL diff (django -> sandbox):"] + diff
    return "\n".join(lines)


def error_type(text):
    """The exception class of an error line: "FieldError: Cannot resolve …" -> "FieldError"."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first.split(":", 1)[0].strip()


def error_message(text):
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first.split(":", 1)[1].strip() if ":" in first else ""


def same_sql(a, b):
    """SQL compared as the learner reads it: statement by statement, whitespace runs folded
    (Django's text has no significant whitespace runs; parameters are inlined the same way on
    both sides, by connection.queries' quoting rules)."""
    norm = lambda stmts: [" ".join(s.split()) for s in stmts]
    return norm(a) == norm(b)


def compare_case(name, dj, sb):
    """Return a failure report, or None when the sandbox matches Django: the query counts,
    the rendered text, every SQL statement; for a case that errors, the exception class and
    its message (the first line of the sandbox's report, which adds where the error is)."""
    if sb is None:
        return f"{name}: the sandbox output has no case with this name"
    if "error" in dj:
        if "error" in sb:
            if error_type(dj["error"]) != error_type(sb["error"]):
                return (f"{name}: both error, with different exception classes\n"
                        f"  django : {dj['error']}\n  sandbox: {sb['error']}")
            if error_message(dj["error"]) != error_message(sb["error"]):
                return (f"{name}: both raise {error_type(dj['error'])}, with different messages\n"
                        f"  django : {dj['error']}\n  sandbox: {sb['error']}")
            return None
        renders = "\n".join(f"render {i + 1}: sandbox n_queries={r.get('n_queries')} "
                            f"output={r.get('output')!r}\n  sandbox SQL:\n{fmt_sql(r.get('sql', []))}"
                            for i, r in enumerate(sb.get("renders", [])))
        return f"{name}: Django raises, the sandbox does not\n  django error: {dj['error']}\n{renders}"
    if "error" in sb:
        renders = "\n".join(describe_render(i, r, {}) for i, r in enumerate(dj["renders"]))
        return f"{name}: the sandbox errors, Django does not\n  sandbox error: {sb['error']}\n{renders}"
    if len(dj["renders"]) != len(sb.get("renders", [])):
        return f"{name}: {len(dj['renders'])} renders from Django, {len(sb.get('renders', []))} from the sandbox"
    bad = [describe_render(i, d, s) for i, (d, s) in enumerate(zip(dj["renders"], sb["renders"]))
           if d["n_queries"] != s.get("n_queries") or d["output"] != s.get("output")
           or not same_sql(d["sql"], s.get("sql", []))]
    return f"{name}: sandbox differs from Django\n" + "\n".join(bad) if bad else None


# ---------------------------------------------------------------- tests

def test_django_runs_every_case(django_results):
    """Guards cases.json itself: only the err_* cases may fail in real Django."""
    names = [c["name"] for c in load_cases()]
    assert len(names) == len(set(names)), "duplicate case names in cases.json"
    bad = {n: django_results[n].get("error") for n in names
           if ("error" in django_results[n]) != n.startswith("err_")}
    assert not bad, f"cases whose Django outcome does not match their err_ prefix: {bad}"


def test_known_gaps_are_case_names():
    unknown = load_known_gaps() - {c["name"] for c in load_cases()}
    assert not unknown, f"known_gaps.txt names cases that do not exist: {sorted(unknown)}"


def examples_results(seeded_db, tmp_path):
    db = tmp_path / "db.sqlite3"
    shutil.copyfile(seeded_db, db)
    examples = sample_app_dir() / "examples.json"
    got = run([sys.executable, HERE / "django_run_cases.py", "--db", db, examples], "django_run_cases.py")
    want = load_json(sample_app_dir() / "examples.django.json")
    return got, want


def test_examples_query_counts(seeded_db, tmp_path):
    """Validates this runner: query counts do not depend on the data set."""
    got, want = examples_results(seeded_db, tmp_path)
    assert [c["name"] for c in got] == [c["name"] for c in want]
    for g, w in zip(got, want):
        assert [r["n_queries"] for r in g["renders"]] == [r["n_queries"] for r in w["renders"]], g["name"]


def test_examples_exact(seeded_db, tmp_path):
    """seed.py reproduces the data behind examples.django.json, so text and SQL match too.
    If seed.py's formulas are changed on purpose, this is the test to revisit."""
    got, want = examples_results(seeded_db, tmp_path)
    assert got == want


# ---------------------------------------------------------------- schema

def split_top_level(s):
    """Split a column list on commas outside parentheses (varchar(200), REFERENCES x ("id"))."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def schema_objects(conn):
    tables, indexes = {}, {}
    for typ, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"):
        if typ == "table":
            body = sql[sql.index("(") + 1: sql.rindex(")")]
            tables[name] = split_top_level(body)
        elif typ == "index":
            indexes[name] = sql
    return tables, indexes


def test_schema_matches_spec(seeded_db):
    """Django's migrate must produce schema.sql's tables, columns (with their exact
    definitions) and index names. Column *order* is not compared: migrations put FK
    columns last and auth's 0008 migration moves first_name to the end of auth_user,
    while schema.sql lists model order; code that reads columns by name is unaffected."""
    spec = sqlite3.connect(":memory:")
    spec.executescript((sample_app_dir() / "schema.sql").read_text(encoding="utf-8"))
    want_tables, want_indexes = schema_objects(spec)
    got_tables, got_indexes = schema_objects(sqlite3.connect(f"file:{seeded_db}?mode=ro", uri=True))

    problems = []
    for table, cols in want_tables.items():
        if table not in got_tables:
            problems.append(f"missing table {table}")
        elif set(cols) != set(got_tables[table]):
            problems.append(f"{table}: column definitions differ\n"
                            f"  only in schema.sql: {sorted(set(cols) - set(got_tables[table]))}\n"
                            f"  only in Django's:   {sorted(set(got_tables[table]) - set(cols))}")
    for name, sql in want_indexes.items():
        if got_indexes.get(name) != sql:
            problems.append(f"index {name}: spec {sql!r}, django {got_indexes.get(name)!r}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- sandbox vs Django
# Last in the file so that `pytest -x` without a binary first shows the Django-only checks pass.

def case_params():
    gaps = load_known_gaps()
    params = []
    for case in load_cases():
        marks = []
        if case["name"] in gaps:
            marks.append(pytest.mark.xfail(
                strict=True,
                reason="listed in known_gaps.txt; if this now passes, remove it from that list"))
        params.append(pytest.param(case["name"], marks=marks, id=case["name"]))
    return params


@pytest.mark.parametrize("name", case_params())
def test_case_matches_django(name, django_results, sandbox_run):
    report = compare_case(name, django_results[name], sandbox_run["results"].get(name))
    if report:
        pytest.fail(report, pytrace=False)


def test_examples_through_the_sandbox(seeded_db, tmp_path):
    """The spec's own examples (shared/sample_app/examples.json) through the sandbox, against
    what real Django recorded for them (examples.django.json): counts, text and SQL."""
    binary = require_sandbox_bin()
    db = tmp_path / "db.sqlite3"
    shutil.copyfile(seeded_db, db)
    got = run([binary, "run-cases", "--db", db, sample_app_dir() / "examples.json"], f"sandbox ({binary})")
    want = load_json(sample_app_dir() / "examples.django.json")
    assert [c["name"] for c in got] == [c["name"] for c in want]
    problems = [compare_case(w["name"], w, g) for g, w in zip(got, want)]
    problems = [p for p in problems if p]
    assert not problems, "\n\n".join(problems)


def test_sandbox_cleans_up_its_copy(sandbox_run):
    """The engine works on a private copy of the file (so the file itself cannot change);
    the copy must not outlive the run."""
    assert sandbox_run["left_behind"] == [], f"the sandbox left files in its TMPDIR: {sandbox_run['left_behind']}"


def test_sandbox_does_not_modify_db(sandbox_run, seeded_db):
    assert sandbox_run["hash_before"] == sha256(seeded_db), "copy of the seed DB differs from the seed"
    assert sandbox_run["hash_after"] == sandbox_run["hash_before"], (
        f"the sandbox changed the DB file {sandbox_run['db']} (sha256 before/after differ)")
    assert sandbox_run["wal_bytes"] == 0, (
        f"the sandbox left a non-empty WAL ({sandbox_run['wal_bytes']} bytes) next to {sandbox_run['db']}")
