"""Differential fuzzing: generated cases through real Django 5.2 and through the sandbox.

    python3 tests/fuzz/run.py --seed 1 --cases 300           # a seeded batch
    python3 tests/fuzz/run.py --long                          # 10,000 cases, fresh seed (printed)
    python3 tests/fuzz/run.py --long --budget 1500            # ... or as many as fit in 25 min
    python3 tests/fuzz/run.py --seed 1 --cases 300 --write-regressions

The sandbox binary is SANDBOX_BIN (else target/release/sandbox, as tests/django_ref).
Both sides run the same generated cases (generate.py) on their own copy of one database
seeded by tests/django_ref/seed.py; Django through tests/django_ref/django_run_cases.py.
Per case, the query count, every SQL statement (whitespace folded), the rendered output and
the error class/message are compared (tests/django_ref/test_differential.compare_case).

Every difference is classified (`kind`, see classify()) and matched against
tests/fuzz/known_gaps.txt; the unlisted ones are shrunk (shrink.py) and shown. With
--write-regressions the shrunk cases are added to tests/fuzz/regressions.json, which
test_regressions.py runs as ordinary differential cases.

Exit status: 0 when every difference is listed in known_gaps.txt, 1 otherwise.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
DJANGO_REF = FUZZ_DIR.parent / "django_ref"
if str(DJANGO_REF) not in sys.path:
    sys.path.insert(0, str(DJANGO_REF))
if str(FUZZ_DIR) not in sys.path:
    sys.path.insert(0, str(FUZZ_DIR))

from differential_common import sandbox_bin  # noqa: E402
from test_differential import compare_case, error_type  # noqa: E402

import generate  # noqa: E402

KNOWN_GAPS_FILE = FUZZ_DIR / "known_gaps.txt"
REGRESSIONS_FILE = FUZZ_DIR / "regressions.json"
TIMEOUT = 900
# Exceptions the generator causes on purpose (get() of a missing row, a page past the end, an
# index past the end): Django raising them is a valid case whose class the sandbox must match.
DELIBERATE_ERRORS = {"DoesNotExist", "MultipleObjectsReturned", "EmptyPage", "PageNotAnInteger", "IndexError"}


class RunnerError(Exception):
    pass


# ---------------------------------------------------------------- running both sides

def seed_db(path):
    """A database made by seed.py (real Django migrate + fill), the same for both sides."""
    subprocess.run([sys.executable, str(DJANGO_REF / "seed.py"), "--db", str(path)], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    return Path(path)


def _run_json(cmd, timeout=TIMEOUT):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RunnerError(f"exit {proc.returncode}: {proc.stderr[-3000:]}")
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise RunnerError(f"invalid JSON ({exc}): {proc.stderr[-2000:]}")


def _with_copy(seeded, cases, fn):
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        db = Path(tmp) / "db.sqlite3"
        shutil.copyfile(seeded, db)
        cf = Path(tmp) / "cases.json"
        cf.write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
        return fn(db, cf)


def run_django(seeded, cases):
    """Results by name from django_run_cases.py (one process for the list; the runner resets
    Django's query log before each render, so a long batch counts every case)."""
    if not cases:
        return {}
    out = _with_copy(seeded, cases, lambda db, cf: _run_json(
        ["nice", "-n", "10", sys.executable, DJANGO_REF / "django_run_cases.py", "--db", db, cf]))
    return {c["name"]: c for c in out}


def run_sandbox(seeded, cases, binary=None, timeout=TIMEOUT):
    """Results by name from `sandbox run-cases`. A run that crashes (panic, abort, timeout)
    is bisected down to the case(s) that crash; those get {"name", "crash": message}."""
    if not cases:
        return {}
    binary = binary or sandbox_bin()
    try:
        out = _with_copy(seeded, cases, lambda db, cf: _run_json(
            ["nice", "-n", "10", binary, "run-cases", "--db", db, cf], timeout=timeout))
        return {c.get("name"): c for c in out}
    except (RunnerError, subprocess.TimeoutExpired) as exc:
        if len(cases) == 1:
            msg = str(exc) if isinstance(exc, RunnerError) else f"timeout after {timeout}s"
            return {cases[0]["name"]: {"name": cases[0]["name"], "crash": msg.strip()[-1500:]}}
        mid = len(cases) // 2
        res = run_sandbox(seeded, cases[:mid], binary, timeout=min(timeout, 120))
        res.update(run_sandbox(seeded, cases[mid:], binary, timeout=min(timeout, 120)))
        return res


# ---------------------------------------------------------------- comparing

def classify(dj, sb):
    """(kind, detail) of a difference, or None when the sandbox matches Django.

    kinds: crash (the sandbox process died), missing, sandbox-error (only the sandbox raised;
    detail = its error line), django-error (only Django raised), error-class, error-message,
    queries (different number of queries), sql (same count, different statements),
    output (same SQL, different rendered text)."""
    if sb is None:
        return "missing", ""
    if "crash" in sb:
        return "crash", sb["crash"].splitlines()[-1] if sb["crash"] else ""
    if compare_case(dj["name"], dj, sb) is None:
        return None
    if "error" in dj and "error" in sb:
        if error_type(dj["error"]) != error_type(sb["error"]):
            return "error-class", first_line(sb["error"])
        return "error-message", first_line(sb["error"])
    if "error" in dj:
        return "django-error", first_line(dj["error"])
    if "error" in sb:
        return "sandbox-error", first_line(sb["error"])
    fold = lambda stmts: [" ".join(s.split()) for s in stmts]
    for d, s in zip(dj["renders"], sb["renders"]):
        if len(d["sql"]) != len(s.get("sql", [])):
            return "queries", f"{len(d['sql'])} vs {len(s.get('sql', []))}"
    for d, s in zip(dj["renders"], sb["renders"]):
        if fold(d["sql"]) != fold(s.get("sql", [])):
            return "sql", ""
    return "output", ""


def first_line(text):
    text = (text or "").strip()
    return text.splitlines()[0] if text else ""


def report(name, dj, sb):
    if sb is not None and "crash" in sb:
        return f"{name}: the sandbox crashed\n  {sb['crash']}"
    return compare_case(name, dj, sb) or ""


# ---------------------------------------------------------------- known gaps

class Gap:
    def __init__(self, gid, kind, regex, reason, line):
        self.id, self.kind, self.reason, self.line = gid, kind, reason, line
        self.regex = re.compile(regex, re.S)

    def matches(self, kind, text):
        kinds = self.kind.split(",")
        return ("*" in kinds or kind in kinds) and self.regex.search(text) is not None


def load_gaps(path=KNOWN_GAPS_FILE):
    """known_gaps.txt: `id | kinds | regex | reason` per line ('#' lines are comments); kinds
    is a comma-separated list of classify() kinds, or `*`. The
    regex is searched in gap_text(): the case as `var = expr` lines, `template: …`, then
    `detail: …` (the sandbox's error line for sandbox-error)."""
    gaps = []
    path = Path(path)
    if not path.exists():
        return gaps
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ", 3)]
        if len(parts) != 4:
            raise ValueError(f"{path}:{n}: expected `id | kind | regex | reason`: {line!r}")
        gaps.append(Gap(*parts, line=n))
    return gaps


def gap_text(case_json, detail=""):
    return generate.case_text(case_json) + "\ndetail: " + (detail or "")


def match_gap(gaps, kind, case_json, detail=""):
    text = gap_text(case_json, detail)
    return next((g for g in gaps if g.matches(kind, text)), None)


# ---------------------------------------------------------------- a batch

def compare_batch(seeded, cases_json, binary=None):
    """Run both sides; returns (django results, sandbox results, timings)."""
    t0 = time.time()
    dj = run_django(seeded, cases_json)
    t1 = time.time()
    sb = run_sandbox(seeded, cases_json, binary)
    t2 = time.time()
    return dj, sb, {"django": t1 - t0, "sandbox": t2 - t1}


def check_cases(seeded, cases, binary=None, gaps=None, chunk=500, budget=None, progress=None):
    """Generated cases (generate.py dicts) through both sides, in chunks.
    Returns a dict: results [(case, case_json, dj, sb, diff-or-None, gap-or-None)], timings, n."""
    gaps = load_gaps() if gaps is None else gaps
    out = {"results": [], "time": Counter(), "n": 0, "stopped_early": False}
    start = time.time()
    for i in range(0, len(cases), chunk):
        part = cases[i:i + chunk]
        cj = [generate.to_json(c) for c in part]
        dj, sb, t = compare_batch(seeded, cj, binary)
        out["time"].update(t)
        t3 = time.time()
        for c, j in zip(part, cj):
            d, s = dj[j["name"]], sb.get(j["name"])
            diff = classify(d, s)
            gap = match_gap(gaps, diff[0], j, diff[1]) if diff else None
            out["results"].append((c, j, d, s, diff, gap))
        out["time"]["compare"] += time.time() - t3
        out["n"] += len(part)
        if progress:
            progress(out)
        if budget and time.time() - start > budget and i + chunk < len(cases):
            out["stopped_early"] = True
            break
    return out


# ---------------------------------------------------------------- coverage

KIND_COLUMNS = ["local", "fk", "fk_null", "rev_fk", "m2m", "rev_m2m"]


def coverage_table(cases):
    """Lookups x relation kinds (a term counts under every kind of hop in its path, `local`
    when it has none), then methods/constructs and template features, as text."""
    lk, feats = Counter(), Counter()
    for c in cases:
        for key, n in c["lookups"].items():
            lk[key] += n
        for key, n in c["features"].items():
            feats[key] += 1  # cases using it
    lookups = sorted({k[0] for k in lk}, key=lambda x: (-sum(lk[(x, c)] for c in KIND_COLUMNS), x))
    w = max([len(x) for x in lookups] + [8])
    lines = ["lookup".ljust(w) + "".join(c.rjust(9) for c in KIND_COLUMNS)]
    for x in lookups:
        lines.append(x.ljust(w) + "".join(str(lk.get((x, c), 0) or ".").rjust(9) for c in KIND_COLUMNS))
    lines.append("")
    methods = sorted((k, v) for k, v in feats.items() if not k.startswith("tpl ") and not k.startswith("kind "))
    tpl = sorted((k, v) for k, v in feats.items() if k.startswith("tpl "))
    kinds = sorted((k[5:], v) for k, v in feats.items() if k.startswith("kind "))

    def block(title, items):
        cells = [f"{k}={v}" for k, v in items]
        rows, cur = [], ""
        for cell in cells:
            if len(cur) + len(cell) > 100:
                rows.append(cur)
                cur = ""
            cur += ("" if not cur else "  ") + cell
        rows.append(cur)
        return [f"{title} (cases using it):"] + ["  " + r for r in rows]
    lines += block("context value kinds", kinds)
    lines += block("methods / constructs", methods)
    lines += block("template features", [(k[4:], v) for k, v in tpl])
    return "\n".join(lines)


# ---------------------------------------------------------------- regressions file

def load_regressions():
    if REGRESSIONS_FILE.exists():
        return json.loads(REGRESSIONS_FILE.read_text(encoding="utf-8"))
    return []


def add_regressions(new_cases):
    """Append shrunk cases (run-cases JSON) to regressions.json, skipping ones already there
    (same context and template). Returns how many were added."""
    cur = load_regressions()
    seen = {(json.dumps(c["context"], sort_keys=True), c["template"]) for c in cur}
    names = {c["name"] for c in cur}
    added = 0
    for c in new_cases:
        key = (json.dumps(c["context"], sort_keys=True), c["template"])
        if key in seen:
            continue
        name, k = c["name"], 2
        while name in names:
            name, k = f"{c['name']}_{k}", k + 1
        cur.append({"name": name, "context": c["context"], "template": c["template"]})
        seen.add(key)
        names.add(name)
        added += 1
    text = "[\n" + ",\n".join(" " + json.dumps(c, ensure_ascii=False) for c in cur) + "\n]\n"
    REGRESSIONS_FILE.write_text(text, encoding="utf-8")
    return added


# ---------------------------------------------------------------- main

def summarize(res, shrink_limit=8, seeded=None, binary=None, gaps=None, verbose=True):
    """Print the differences; shrink the unlisted ones (at most `shrink_limit` per kind).
    Returns (listed Counter, unlisted list of dicts with the shrunk case)."""
    import shrink

    listed, unlisted = Counter(), []
    django_invalid = Counter()
    for c, j, d, s, diff, gap in res["results"]:
        if "error" in d and error_type(d["error"]) not in DELIBERATE_ERRORS:
            django_invalid[error_type(d["error"])] += 1
            if verbose and django_invalid[error_type(d["error"])] <= 2:
                print(f"  [generator] Django rejects {j['name']}: {first_line(d['error'])}\n"
                      f"    {generate.case_text(j)}")
        if not diff:
            continue
        if gap:
            listed[gap.id] += 1
        else:
            unlisted.append({"case": c, "json": j, "kind": diff[0], "detail": diff[1], "django": d, "sandbox": s})
    per_kind = Counter()
    shrunk_seen = set()
    for u in unlisted:
        per_kind[u["kind"]] += 1
        if seeded is None or per_kind[u["kind"]] > shrink_limit:
            continue
        t0 = time.time()
        small, sj, sd, ss, skind, sdetail = shrink.shrink(seeded, u["case"], u["kind"], u["detail"], binary,
                                                          gaps=gaps or [])
        u.update(shrunk=small, shrunk_json=sj, shrunk_django=sd, shrunk_sandbox=ss,
                 shrunk_kind=skind, shrunk_detail=sdetail, shrink_time=time.time() - t0)
        key = (generate.case_text(sj), skind)
        u["duplicate"] = key in shrunk_seen
        shrunk_seen.add(key)
        u["shrunk_gap"] = match_gap(gaps or [], skind, sj, sdetail)
    return listed, unlisted, django_invalid


def format_unlisted(unlisted, limit=30):
    """The shrunk unlisted differences (one per distinct shrunk case), as text."""
    out, shown = [], 0
    for u in unlisted:
        if "shrunk_json" not in u or u.get("duplicate"):
            continue
        shown += 1
        if shown > limit:
            break
        sj = u["shrunk_json"]
        out.append(f"\n=== {u['kind']} in {u['json']['name']} (shrunk in {u['shrink_time']:.1f}s"
                   + (f"; the shrunk case matches known gap {u['shrunk_gap'].id}" if u.get("shrunk_gap") else "") + ")")
        out.append("  original: " + generate.case_text(u["json"]).replace("\n", "\n            "))
        out.append("  shrunk:   " + generate.case_text(sj).replace("\n", "\n            "))
        out.append("  regression case: " + json.dumps(sj, ensure_ascii=False))
        out.append("  " + report(sj["name"], u["shrunk_django"], u["shrunk_sandbox"]).replace("\n", "\n  "))
    not_shrunk = [u for u in unlisted if "shrunk_json" not in u]
    if not_shrunk:
        out.append(f"\n({len(not_shrunk)} more unlisted difference(s) not shrunk: "
                   + ", ".join(f"{u['json']['name']}={u['kind']}" for u in not_shrunk[:20]) + ")")
    return "\n".join(out)


def print_unlisted(unlisted, limit=30):
    print(format_unlisted(unlisted, limit))


def main(argv=None):
    p = argparse.ArgumentParser(description="Differential fuzzing of the sandbox against real Django.")
    p.add_argument("--seed", type=int, help="generator seed (default 1; --long: a fresh one, printed)")
    p.add_argument("--cases", type=int, help="number of cases (default 300; --long: 10000)")
    p.add_argument("--long", action="store_true", help="10,000 cases with a fresh random seed")
    p.add_argument("--budget", type=float, help="stop after the chunk that passes this many seconds")
    p.add_argument("--chunk", type=int, default=500, help="cases per runner process (default 500)")
    p.add_argument("--shrink-limit", type=int, default=8, help="unlisted differences shrunk per kind (default 8)")
    p.add_argument("--write-regressions", action="store_true",
                   help="add the shrunk unlisted cases to tests/fuzz/regressions.json")
    p.add_argument("--db", help="use this seeded database instead of making one with seed.py")
    p.add_argument("--dump", help="write the generated cases (run-cases JSON) here")
    args = p.parse_args(argv)

    if args.long:
        seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2 ** 31)
        n = args.cases or 10000
    else:
        seed = 1 if args.seed is None else args.seed
        n = args.cases or 300
    binary = sandbox_bin()
    if not binary.exists():
        sys.exit(f"run.py: sandbox binary not found at {binary}; set SANDBOX_BIN")
    print(f"seed {seed}, {n} cases, sandbox {binary}  (replay: run.py --seed {seed} --cases {n})", flush=True)

    t_start = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-seed-"))
    try:
        seeded = Path(args.db) if args.db else seed_db(tmp / "seed.sqlite3")
        t_seed = time.time() - t_start
        t0 = time.time()
        cases = generate.generate(seed, n)
        t_gen = time.time() - t0
        if args.dump:
            Path(args.dump).write_text(json.dumps([generate.to_json(c) for c in cases], indent=1), encoding="utf-8")
        gaps = load_gaps()

        def progress(out):
            bad = sum(1 for r in out["results"] if r[4] and not r[5])
            print(f"  {out['n']} cases, {time.time() - t_start:.0f}s, unlisted differences so far: {bad}", flush=True)
        res = check_cases(seeded, cases, binary, gaps, chunk=args.chunk, budget=args.budget, progress=progress)
        t_run = time.time() - t0
        ran = [r[0] for r in res["results"]]
        t1 = time.time()
        listed, unlisted, invalid = summarize(res, args.shrink_limit, seeded, binary, gaps)
        t_shrink = time.time() - t1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n" + coverage_table(ran))
    kinds = Counter(u["kind"] for u in unlisted)
    print(f"\ncases run: {res['n']}" + (" (stopped at the time budget)" if res["stopped_early"] else ""))
    print(f"differences listed in known_gaps.txt: {sum(listed.values())} "
          + (", ".join(f"{k}={v}" for k, v in sorted(listed.items())) or ""))
    print(f"unlisted differences: {len(unlisted)} " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    if invalid:
        print(f"generator: cases Django rejects (not counted as differences): {dict(invalid)}")
    print_unlisted(unlisted)
    if args.write_regressions:
        import shrink
        new = []
        for u in unlisted:
            if "shrunk_json" in u and not u.get("duplicate"):
                sj = dict(u["shrunk_json"])
                sj["name"] = shrink.regression_name(u["shrunk_kind"], sj)
                new.append(sj)
        print(f"\nregressions.json: {add_regressions(new)} case(s) added")
    print(f"\ntime: seed db {t_seed:.1f}s, generate {t_gen:.1f}s, django {res['time']['django']:.1f}s, "
          f"sandbox {res['time']['sandbox']:.1f}s, compare {res['time']['compare']:.1f}s, "
          f"shrink {t_shrink:.1f}s, total {time.time() - t_start:.1f}s")
    return 1 if unlisted else 0


if __name__ == "__main__":
    sys.exit(main())
