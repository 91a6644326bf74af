"""Fixtures of the fuzz tests. They reuse tests/django_ref's helpers (differential_common,
test_differential.compare_case, seed.py, django_run_cases.py) by putting that folder on
sys.path; Django itself only runs in subprocesses, as in tests/django_ref."""
import sys
from pathlib import Path

import pytest

FUZZ_DIR = Path(__file__).resolve().parent
for p in (FUZZ_DIR.parent / "django_ref", FUZZ_DIR):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import run  # noqa: E402


@pytest.fixture(scope="session")
def fuzz_seeded_db(tmp_path_factory):
    """seed.py's reference data set, made once per session by real Django."""
    return run.seed_db(tmp_path_factory.mktemp("fuzz-seed") / "seed.sqlite3")
