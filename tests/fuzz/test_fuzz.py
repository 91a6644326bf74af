"""The seeded fuzz batch: FUZZ_CASES generated cases (generate.py, seed FUZZ_SEED) through
real Django and the sandbox; any difference not listed in known_gaps.txt fails, with the
shrunk case shown (and its regression-case JSON, ready for regressions.json).

    SANDBOX_BIN=… python3 -m pytest tests/fuzz/test_fuzz.py
    FUZZ_SEED=5 FUZZ_CASES=3000 python3 -m pytest tests/fuzz/test_fuzz.py   # another batch
"""
import os
from collections import Counter

import pytest

import generate
import run
from differential_common import require_sandbox_bin
from test_differential import error_type

SEED = int(os.environ.get("FUZZ_SEED", "1"))
N_CASES = int(os.environ.get("FUZZ_CASES", "1000"))


@pytest.fixture(scope="module")
def batch(fuzz_seeded_db):
    binary = require_sandbox_bin()
    cases = generate.generate(SEED, N_CASES)
    return run.check_cases(fuzz_seeded_db, cases, binary), binary


def test_generator_is_deterministic():
    a = [generate.to_json(c) for c in generate.generate(SEED, 50)]
    b = [generate.to_json(c) for c in generate.generate(SEED, 50)]
    assert a == b


def test_known_gaps_parse():
    gaps = run.load_gaps()
    ids = [g.id for g in gaps]
    assert len(ids) == len(set(ids)), "duplicate ids in known_gaps.txt"
    assert all(g.reason for g in gaps), "every known gap needs a reason"


def test_django_accepts_generated_cases(batch):
    """Guards the generator: real Django must run every case, except the errors the
    generator makes on purpose (get() of a missing row, a page or index past the end)."""
    res, _ = batch
    bad = Counter()
    examples = {}
    for c, j, d, s, diff, gap in res["results"]:
        if "error" in d and error_type(d["error"]) not in run.DELIBERATE_ERRORS:
            bad[error_type(d["error"])] += 1
            examples.setdefault(error_type(d["error"]), (generate.case_text(j), d["error"]))
    assert not bad, f"Django rejects generated cases: {dict(bad)}\n" + "\n".join(
        f"{k}: {v[1]}\n  {v[0]}" for k, v in examples.items())


def test_sandbox_matches_django_on_seeded_batch(batch, fuzz_seeded_db):
    res, binary = batch
    gaps = run.load_gaps()
    listed, unlisted, _ = run.summarize(res, shrink_limit=3, seeded=fuzz_seeded_db, binary=binary,
                                        gaps=gaps, verbose=False)
    if unlisted:
        kinds = Counter(u["kind"] for u in unlisted)
        pytest.fail(f"{len(unlisted)} of {res['n']} generated cases (seed {SEED}) differ from Django in ways "
                    f"known_gaps.txt does not list ({dict(kinds)}); shrunk:\n" + run.format_unlisted(unlisted),
                    pytrace=False)
