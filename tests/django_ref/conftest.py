"""Fixtures shared by the differential tests of this directory."""
import subprocess
import sys

import pytest

from differential_common import HERE


def seed(db, *args):
    subprocess.run([sys.executable, str(HERE / "seed.py"), "--db", str(db), *args], check=True, timeout=300)
    return db


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory):
    """The reference data set (seed.py's defaults), made once per session by real Django."""
    return seed(tmp_path_factory.mktemp("seed") / "seed.sqlite3")
