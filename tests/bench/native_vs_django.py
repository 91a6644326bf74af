"""Benchmark (prints numbers, asserts nothing): the article-list page, N+1 and fixed, at 20, 200
and 2,000 articles per page, in real Django 5.2 (CPython, native SQLite) and in the sandbox
(native, turso_core), on the same database file. Goal: the sandbox is faster than Django.

    SANDBOX_BIN=.../release/sandbox python3 tests/bench/native_vs_django.py
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "django_ref")


def main():
    sandbox = os.environ.get("SANDBOX_BIN") or os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "sandbox")
    if not os.path.exists(sandbox):
        sys.exit(f"no sandbox binary at {sandbox}: build it with cargo build --release -p sandbox")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.sqlite3")
        subprocess.run([sys.executable, os.path.join(REF, "seed.py"), "--db", db, "--articles", "2700"], check=True, stdout=subprocess.DEVNULL)
        print(f"{'per page':>8} {'variant':>10} {'queries':>7} {'django ms':>10} {'sandbox ms':>10} {'django/sandbox':>14}")
        for per_page in (20, 200, 2000):
            repeat = "20" if per_page < 2000 else "5"
            dj = json.loads(subprocess.run([sys.executable, os.path.join(REF, "bench_django.py"), "--db", db, "--per-page", str(per_page), "--repeat", repeat], check=True, capture_output=True, text=True).stdout)
            sb = json.loads(subprocess.run([sandbox, "bench", "--db", db, "--per-page", str(per_page), "--repeat", repeat], check=True, capture_output=True, text=True).stdout)
            for i, variant in enumerate(("n_plus_one", "fixed")):
                d, s = dj[f"{variant}_ms"], sb[f"{variant}_ms"]
                nq = f"{dj['n_queries'][i]}/{sb['n_queries'][i]}"
                print(f"{per_page:>8} {variant:>10} {nq:>7} {d:>10.2f} {s:>10.2f} {d / s:>13.2f}x")


if __name__ == "__main__":
    main()
