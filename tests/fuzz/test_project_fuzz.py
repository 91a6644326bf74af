"""The seeded project fuzz batch: PROJECT_FUZZ_CASES mini projects (project_gen.py, seed
PROJECT_FUZZ_SEED) through real Django 5.2 (tests/django_ref/django_run_project.py) and
`sandbox run-project`, compared step by step as the project differential compares them
(status, query count, body, SQL, headers, redirect chain, run output, tests, errors).

    SANDBOX_BIN=… python3 -m pytest tests/fuzz/test_project_fuzz.py
    python3 tests/fuzz/test_project_fuzz.py --long 3000 [--seed N]    # a long run, with numbers
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
DJANGO_REF = FUZZ_DIR.parent / "django_ref"
for p in (DJANGO_REF, FUZZ_DIR):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import project_gen  # noqa: E402

SEED = int(os.environ.get("PROJECT_FUZZ_SEED", "1"))
N_CASES = int(os.environ.get("PROJECT_FUZZ_CASES", "80"))
RUNNER = DJANGO_REF / "django_run_project.py"


def run_both(seeded, cases, binary):
    """Django's and the sandbox's results, each on its own copy of `seeded`."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases_file = tmp / "cases.json"
        cases_file.write_text(json.dumps(cases), encoding="utf-8")
        out = {}
        for side, cmd in (("django", [sys.executable, str(RUNNER)]), ("sandbox", [str(binary), "run-project"])):
            db = tmp / f"{side}.sqlite3"
            shutil.copyfile(seeded, db)
            p = subprocess.run([*cmd, "--db", str(db), str(cases_file)], capture_output=True, text=True, timeout=1800)
            if p.returncode != 0:
                raise RuntimeError(f"{side} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
            out[side] = {r["name"]: r for r in json.loads(p.stdout)}
        return out["django"], out["sandbox"]


def differences(cases, dj, sb):
    from differential_common import compare_project_case
    reports = []
    for c in cases:
        rep = compare_project_case(c, dj[c["name"]], sb.get(c["name"]))
        if rep:
            reports.append(rep)
    return reports


def test_project_generator_is_deterministic():
    assert project_gen.generate(SEED, 10) == project_gen.generate(SEED, 10)


def test_project_fuzz_batch(fuzz_seeded_db):
    from differential_common import require_sandbox_bin
    binary = require_sandbox_bin()
    cases = project_gen.generate(SEED, N_CASES)
    dj, sb = run_both(fuzz_seeded_db, cases, binary)
    # The batch must exercise what it is for, in real Django.
    steps = [s for r in dj.values() for s in r.get("steps", [])]
    assert sum("headers" in s for s in steps) > N_CASES, "too few request steps answered"
    assert any(s.get("status") == 304 for s in steps) or any("ETag" in s.get("headers", {}) for s in steps)
    assert any(s.get("redirect_chain") for s in steps)
    assert any("tests" in s for s in steps)
    reports = differences(cases, dj, sb)
    print(f"project fuzz: seed {SEED}, {len(cases)} cases, {len(steps)} steps, {len(reports)} differ")
    assert not reports, "\n\n".join(reports[:10])


def main(argv=None):
    p = argparse.ArgumentParser(description="A long project fuzz run.")
    p.add_argument("--long", type=int, default=2000, help="number of cases")
    p.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    p.add_argument("--db", help="a seeded database (else tests/django_ref/seed.py makes one)")
    a = p.parse_args(argv)
    from differential_common import sandbox_bin
    import run as fuzz_run
    db = Path(a.db) if a.db else fuzz_run.seed_db(Path(tempfile.mkdtemp()) / "seed.sqlite3")
    cases = project_gen.generate(a.seed, a.long)
    start = time.time()
    dj, sb = run_both(db, cases, sandbox_bin())
    reports = differences(cases, dj, sb)
    steps = sum(len(r.get("steps", [])) for r in dj.values())
    print(f"seed {a.seed}: {len(cases)} cases, {steps} steps, {len(reports)} differ, {time.time() - start:.0f} s")
    for r in reports[:20]:
        print(r)
    return 1 if reports else 0


if __name__ == "__main__":
    sys.exit(main())
