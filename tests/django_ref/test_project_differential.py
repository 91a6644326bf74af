"""Differential tests of the `run-project` contract: the Rust `sandbox run-project` against
real Django 5.2 (django_run_project.py) on copies of the same seeded database.

    python3 -m pytest tests/django_ref            (from the repo root)

Checked for every case of project_cases.json, step by step: status, query count, body and
each SQL statement of a `get`; query count, SQL and output of a `run`; name, outcome and
message of each test of a `test`; type and message of an error step. Both sides go through
differential_common.normalize() first (savepoint thread ids, EXPLAIN row ids, addresses,
whitespace) and nothing else is forgiven. A case that does not load must not load on either
side; only the error's type is compared then (Python's import errors name file paths).

The Django-only tests (case file generated, cases run with their intended outcome, the
five shared examples reproduced, DB files untouched) need no binary. The comparison tests
need it and FAIL without it, as in test_differential.py. known_gaps_project.txt lists case
names the sandbox does not support yet; they run as strict xfail.
"""
import re
import shutil
import sys

import pytest

import make_project_cases
from conftest import seed
from differential_common import (HERE, compare_project_case, load_json, load_name_list,
                                 require_sandbox_bin, run, sample_app_dir, sha256, summarize_case)

CASES_FILE = HERE / "project_cases.json"
EXPECTATIONS_FILE = HERE / "project_expectations.json"
KNOWN_GAPS_FILE = HERE / "known_gaps_project.txt"
RUNNER = HERE / "django_run_project.py"


def load_cases():
    return load_json(CASES_FILE)


# ---------------------------------------------------------------- fixtures

def run_on_copy(cmd_head, seeded, tmp_path_factory, what, cases_file=CASES_FILE, label="run"):
    """Run `cmd_head --db COPY cases_file` on a fresh copy of `seeded`; hashes around it."""
    db = tmp_path_factory.mktemp(label) / "db.sqlite3"
    shutil.copyfile(seeded, db)
    before = sha256(db)
    out = run([*cmd_head, "--db", db, cases_file], what)
    wal = db.with_name(db.name + "-wal")
    return {
        "results": {c.get("name"): c for c in out},
        "order": [c.get("name") for c in out],
        "hash_before": before,
        "hash_after": sha256(db),
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "db": db,
    }


@pytest.fixture(scope="session")
def django_project(seeded_db, tmp_path_factory):
    return run_on_copy([sys.executable, RUNNER], seeded_db, tmp_path_factory, "django_run_project.py",
                       label="django-project")


@pytest.fixture(scope="session")
def sandbox_project(seeded_db, tmp_path_factory):
    binary = require_sandbox_bin()
    return run_on_copy([binary, "run-project"], seeded_db, tmp_path_factory, f"sandbox ({binary})",
                       label="sandbox-project")


@pytest.fixture(scope="session")
def seeded_db_200(tmp_path_factory):
    """project_examples.django.json was made on a data set of 200 articles; seed.py with
    --articles 200 gives the same query counts, statuses, outputs and SQL shapes (not the
    same rows: the reference seed had 50 users and ordered articles by id)."""
    return seed(tmp_path_factory.mktemp("seed200") / "seed.sqlite3", "--articles", "200")


# ---------------------------------------------------------------- the case file itself

def test_project_cases_file_is_generated():
    """project_cases.json is written by make_project_cases.py; edit that, then rerun it."""
    want = make_project_cases.dumps(make_project_cases.all_cases(sample_app_dir() / "project_examples.json"))
    assert CASES_FILE.read_text(encoding="utf-8") == want, (
        "project_cases.json is out of date: run `python3 tests/django_ref/make_project_cases.py`")


def test_project_cases_start_with_the_shared_examples():
    examples = load_json(sample_app_dir() / "project_examples.json")
    assert load_cases()[: len(examples)] == examples


def test_known_gaps_project_are_case_names():
    unknown = load_name_list(KNOWN_GAPS_FILE) - {c["name"] for c in load_cases()}
    assert not unknown, f"known_gaps_project.txt names cases that do not exist: {sorted(unknown)}"


# ---------------------------------------------------------------- Django alone

def test_django_runs_every_project_case_as_intended(django_project):
    """Guards project_cases.json: every case has, in real Django, the outcome written down in
    project_expectations.json (see differential_common.summarize_case), and only err_* cases
    fail to load."""
    cases = load_cases()
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names in project_cases.json"
    assert django_project["order"] == names
    results = django_project["results"]
    wrong_load = {n: results[n].get("error") for n in names if ("error" in results[n]) != n.startswith("err_")}
    assert not wrong_load, f"cases whose loading does not match their err_ prefix: {wrong_load}"

    expected = load_json(EXPECTATIONS_FILE)
    assert sorted(expected) == sorted(names), "project_expectations.json must list exactly the cases"
    problems = []
    for name in names:
        got = summarize_case(results[name])
        if got != expected[name]:
            lines = [f"{name}:"]
            for i in range(max(len(got), len(expected[name]))):
                g = got[i] if i < len(got) else "(missing)"
                w = expected[name][i] if i < len(expected[name]) else "(missing)"
                lines.append(f"  step {i + 1}: {'ok  ' if g == w else 'DIFF'} expected {w!r}"
                             + ("" if g == w else f"\n                got      {g!r}"))
            problems.append("\n".join(lines))
    assert not problems, "Django's outcomes differ from project_expectations.json:\n" + "\n".join(problems)


def test_django_run_project_leaves_db_unchanged(django_project, seeded_db):
    assert django_project["hash_before"] == sha256(seeded_db)
    assert django_project["hash_after"] == django_project["hash_before"], (
        "django_run_project.py changed the --db file: cases must work on their own copies")


def project_examples_results(seeded_db_200, tmp_path_factory):
    out = run_on_copy([sys.executable, RUNNER], seeded_db_200, tmp_path_factory, "django_run_project.py",
                      cases_file=sample_app_dir() / "project_examples.json", label="examples")
    want = load_json(sample_app_dir() / "project_examples.django.json")
    return [out["results"][n] for n in out["order"]], want


def mask_digits(sql):
    return [re.sub(r"\d+", "#", q) for q in sql]


def test_project_examples_match_reference(seeded_db_200, tmp_path_factory):
    """Validates django_run_project.py against the README's reference output. seed.py does not
    reproduce the reference rows (see seeded_db_200), so bodies are not compared and numbers
    in SQL are masked; everything else (statuses, query counts, SQL shapes, run outputs, test
    names, outcomes and messages) must be equal."""
    got, want = project_examples_results(seeded_db_200, tmp_path_factory)
    assert [c["name"] for c in got] == [c["name"] for c in want]
    for g, w in zip(got, want):
        assert "steps" in g, f"{g['name']}: {g.get('error')}"
        assert len(g["steps"]) == len(w["steps"]), g["name"]
        for i, (gs, ws) in enumerate(zip(g["steps"], w["steps"])):
            where = f"{g['name']} step {i + 1}"
            assert sorted(gs) == sorted(ws), where
            for key in ("status", "n_queries", "output", "tests", "error"):
                assert gs.get(key) == ws.get(key), f"{where}: {key}"
            assert mask_digits(gs.get("sql", [])) == mask_digits(ws.get("sql", [])), where


# ---------------------------------------------------------------- sandbox vs Django

def case_params():
    gaps = load_name_list(KNOWN_GAPS_FILE)
    params = []
    for case in load_cases():
        marks = []
        if case["name"] in gaps:
            marks.append(pytest.mark.xfail(
                strict=True,
                reason="listed in known_gaps_project.txt; if this now passes, remove it from that list"))
        params.append(pytest.param(case["name"], marks=marks, id=case["name"]))
    return params


@pytest.mark.parametrize("name", case_params())
def test_project_case_matches_django(name, django_project, sandbox_project):
    case = next(c for c in load_cases() if c["name"] == name)
    report = compare_project_case(case, django_project["results"][name], sandbox_project["results"].get(name))
    if report:
        pytest.fail(report, pytrace=False)


def test_sandbox_project_does_not_modify_db(sandbox_project, seeded_db):
    assert sandbox_project["hash_before"] == sha256(seeded_db), "copy of the seed DB differs from the seed"
    assert sandbox_project["hash_after"] == sandbox_project["hash_before"], (
        f"sandbox run-project changed the DB file {sandbox_project['db']} (sha256 before/after differ)")
    assert sandbox_project["wal_bytes"] == 0, (
        f"the sandbox left a non-empty WAL ({sandbox_project['wal_bytes']} bytes) next to {sandbox_project['db']}")
