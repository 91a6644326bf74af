"""regressions.json: the shrunk cases the fuzzer found, run as ordinary differential cases
(same comparison as tests/django_ref/test_differential.py: query counts, every SQL
statement, the rendered text, the error class and message).

A case whose difference known_gaps.txt lists runs as a strict xfail: when the sandbox is fixed
it passes, and the test fails until the entry is removed from known_gaps.txt.
"""
import shutil
import sys

import pytest

import generate
import run
from differential_common import require_sandbox_bin
from test_differential import compare_case


def load():
    return run.load_regressions()


@pytest.fixture(scope="module")
def results(fuzz_seeded_db, tmp_path_factory):
    binary = require_sandbox_bin()
    cases = load()
    return run.run_django(fuzz_seeded_db, cases), run.run_sandbox(fuzz_seeded_db, cases, binary)


def test_regression_names_unique():
    names = [c["name"] for c in load()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", [c["name"] for c in load()])
def test_regression_matches_django(name, results):
    dj, sb = results
    case = next(c for c in load() if c["name"] == name)
    d, s = dj[name], sb.get(name)
    diff = run.classify(d, s)
    text = run.gap_text(case, diff[1] if diff else "")
    listed = [g for g in run.load_gaps() if g.regex.search(text)]
    if diff is None:
        if listed:
            pytest.fail(f"{name} now matches Django: remove known gap {listed[0].id} from known_gaps.txt "
                        f"(if no other case needs it)", pytrace=False)
        return
    gap = run.match_gap(run.load_gaps(), diff[0], case, diff[1])
    if gap:
        pytest.xfail(f"known gap {gap.id}: {gap.reason[:200]}")
    pytest.fail(f"[{diff[0]}] " + run.report(name, d, s), pytrace=False)
