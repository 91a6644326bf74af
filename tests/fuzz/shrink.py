"""Shrinks a generated case whose sandbox result differs from Django's to a small one that
still differs in the same way.

    python3 tests/fuzz/shrink.py --seed 1 --index 17      # case 17 of seed 1's batch
    python3 tests/fuzz/shrink.py --seed 1 --index 17 --write-regression

Each round builds every one-step reduction of the current case (drop a method call, an
argument, a filter term, one side of a Q operator, a negation, a slice, a list element, a
lookup suffix, a context variable; drop or unwrap a template node, a filter, an {% empty %}
or {% else %}), runs them all through both sides in one batch, and keeps the smallest one
that Django still accepts (or that still raises the same exception class, for error
differences) and that still shows the same kind of difference (run.classify). It stops when
no reduction keeps the difference.
"""
import argparse
import hashlib
import json
import sys
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
if str(FUZZ_DIR) not in sys.path:
    sys.path.insert(0, str(FUZZ_DIR))

import generate  # noqa: E402
from generate import Method  # noqa: E402

MAX_ROUNDS = 40
MAX_CANDIDATES = 150
MAX_SECONDS = 60  # per case: a case that sends thousands of queries makes each round slow


# ---------------------------------------------------------------- expression reductions

def expr_reductions(node):
    """Every node one step smaller than `node` (not checked for validity)."""
    kind = node[0]
    out = []
    if kind == "call":
        func, args, kwargs = node[1], node[2], node[3]
        if func[0] == "attr":
            obj = func[1]
            # drop this method call; a bare manager gets .all() so it stays a QuerySet. An
            # order_by stays (without it the row order is the engine's, not a real difference)
            if func[2] == "order_by":
                pass
            elif obj[0] == "attr" and obj[2] == "objects":
                if func[2] != "all":
                    out.append(Method(obj, "all"))
            elif obj[0] not in ("name",):
                out.append(obj)
        elif func[0] == "name" and func[1] in ("Exists", "Paginator") and args:
            pass
        if func[0] == "name" and func[1] == "Prefetch" and args:
            out.append(args[0])  # Prefetch('tags', queryset=...) -> 'tags'
        keep_last = func[0] == "attr" and func[2] == "order_by"  # the unique tiebreaker
        for i in range(len(args) - (1 if keep_last else 0)):
            out.append(("call", func, args[:i] + args[i + 1:], kwargs))
        for i in range(len(kwargs)):
            out.append(("call", func, args, kwargs[:i] + kwargs[i + 1:]))
        # simplify lookups: key__icontains -> key__contains -> key; shorter paths
        for i, (k, v) in enumerate(kwargs):
            for k2 in key_reductions(k):
                out.append(("call", func, args, kwargs[:i] + ((k2, v),) + kwargs[i + 1:]))
        # recurse into the receiver, the arguments and the keyword values
        for sub in expr_reductions(func):
            out.append(("call", sub, args, kwargs))
        for i, a in enumerate(args):
            for sub in expr_reductions(a):
                out.append(("call", func, args[:i] + (sub,) + args[i + 1:], kwargs))
        for i, (k, v) in enumerate(kwargs):
            for sub in expr_reductions(v):
                out.append(("call", func, args, kwargs[:i] + ((k, sub),) + kwargs[i + 1:]))
    elif kind == "attr":
        for sub in expr_reductions(node[1]):
            out.append(("attr", sub, node[2]))
    elif kind == "op":
        out += [node[2], node[3]]
        out += [("op", node[1], s, node[3]) for s in expr_reductions(node[2])]
        out += [("op", node[1], node[2], s) for s in expr_reductions(node[3])]
    elif kind == "inv":
        out.append(node[1])
        out += [("inv", s) for s in expr_reductions(node[1])]
    elif kind == "slice":
        out.append(node[1])
        if node[2] is not None:
            out.append(("slice", node[1], None, node[3]))
        out += [("slice", s, node[2], node[3]) for s in expr_reductions(node[1])]
    elif kind == "index":
        if node[2] != 0:
            out.append(("index", node[1], 0))
        out += [("index", s, node[2]) for s in expr_reductions(node[1])]
    elif kind == "const":
        v = node[1]
        if isinstance(v, list) and len(v) > 1:
            out += [("const", v[:i] + v[i + 1:]) for i in range(len(v))]
        if isinstance(v, str) and len(v) > 1 and " " not in v:
            pass
    return out


LOOKUP_SIMPLER = {"iexact": "exact", "icontains": "contains", "istartswith": "startswith", "iendswith": "endswith",
                  "contains": "exact", "startswith": "exact", "endswith": "exact",
                  "gte": "gt", "lte": "lt", "gt": "exact", "lt": "exact"}


def key_reductions(key):
    parts = key.split("__")
    out = []
    if len(parts) > 1 and parts[-1] in LOOKUP_SIMPLER:
        simpler = LOOKUP_SIMPLER[parts[-1]]
        out.append("__".join(parts[:-1] + [simpler]) if simpler != "exact" else "__".join(parts[:-1]))
    if len(parts) > 1 and parts[-1] == "exact":
        out.append("__".join(parts[:-1]))
    return out


# ---------------------------------------------------------------- template reductions

def tpl_reductions(nodes):
    """Every template (a tuple of nodes) one step smaller."""
    nodes = tuple(nodes)
    out = []
    for i, n in enumerate(nodes):
        before, after = nodes[:i], nodes[i + 1:]
        out.append(before + after)  # drop the node
        k = n[0]
        if k == "var":
            for j in range(len(n[2])):
                out.append(before + (("var", n[1], n[2][:j] + n[2][j + 1:]),) + after)
        elif k == "for":
            out.append(before + n[3] + after)  # unwrap
            if n[4] is not None:
                out.append(before + (("for", n[1], n[2], n[3], None),) + after)
            if "|" in n[2]:
                out.append(before + (("for", n[1], n[2].rsplit("|", 1)[0], n[3], n[4]),) + after)
            for sub in tpl_reductions(n[3]):
                out.append(before + (("for", n[1], n[2], sub, n[4]),) + after)
            if n[4]:
                for sub in tpl_reductions(n[4]):
                    out.append(before + (("for", n[1], n[2], n[3], sub),) + after)
        elif k == "if":
            out.append(before + n[2] + after)
            if n[3] is not None:
                out.append(before + n[3] + after)
                out.append(before + (("if", n[1], n[2], None),) + after)
                for sub in tpl_reductions(n[3]):
                    out.append(before + (("if", n[1], n[2], sub),) + after)
            for sub in tpl_reductions(n[2]):
                out.append(before + (("if", n[1], sub, n[3]),) + after)
        elif k == "with":
            for sub in tpl_reductions(n[2]):
                out.append(before + (("with", n[1], sub),) + after)
        elif k == "text" and len(n[1]) > 1:
            out.append(before + (("text", n[1].strip()[:1] or " "),) + after)
    return out


def case_reductions(case):
    out = []
    ctx = case["context"]
    if len(ctx) > 1:
        for i in range(len(ctx)):
            out.append(dict(case, context=ctx[:i] + ctx[i + 1:]))
    for t in tpl_reductions(case["template"]):
        out.append(dict(case, template=t))
    for i, (var, node) in enumerate(ctx):
        for sub in expr_reductions(node):
            out.append(dict(case, context=ctx[:i] + [(var, sub)] + ctx[i + 1:]))
    return out


def size(case):
    j = generate.to_json(case)
    return sum(len(v) for v in j["context"].values()) + len(j["template"])


# ---------------------------------------------------------------- the loop

def still_fails(kind, detail, orig_dj, dj, sb, cj=None, gaps=()):
    """The candidate is valid (Django accepts it, or raises the same class as before), shows
    the same kind of difference, and does not turn into a difference known_gaps.txt lists
    (so a case is not shrunk onto another, already known, bug)."""
    import run
    from test_differential import error_type
    if "error" in dj:
        if "error" not in orig_dj or error_type(dj["error"]) != error_type(orig_dj["error"]):
            return None
    elif "error" in orig_dj:
        return None
    diff = run.classify(dj, sb)
    if not diff or diff[0] != kind:
        return None
    if kind in ("sandbox-error", "error-class", "crash"):
        # the same sandbox error class (the message may name other fields)
        if diff[1].split(":", 1)[0] != detail.split(":", 1)[0]:
            return None
    if cj is not None and run.match_gap(gaps, diff[0], cj, diff[1]):
        return None
    return diff


def shrink(seeded, case, kind, detail, binary=None, log=None, gaps=None):
    """Returns (case, case_json, django result, sandbox result, kind, detail) of the smallest
    case found that still shows the difference."""
    import run
    gaps = run.load_gaps() if gaps is None else gaps
    cur = dict(case)
    cj = generate.to_json(cur)
    dj = run.run_django(seeded, [cj])[cj["name"]]
    sb = run.run_sandbox(seeded, [cj], binary).get(cj["name"])
    cur_diff = run.classify(dj, sb) or (kind, detail)
    orig_dj = dj
    seen = {generate.case_text(cj)}
    import time
    started = time.time()
    for rnd in range(MAX_ROUNDS):
        if time.time() - started > MAX_SECONDS:
            break
        cands = []
        for c in case_reductions(cur):
            j = generate.to_json(c)
            t = generate.case_text(j)
            if t in seen:
                continue
            seen.add(t)
            cands.append((size(c), c))
        if not cands:
            break
        cands.sort(key=lambda x: x[0])
        cands = cands[:MAX_CANDIDATES]
        batch = []
        for i, (_, c) in enumerate(cands):
            c = dict(c, name=f"{case['name']}_r{rnd}_{i}")
            batch.append(c)
        bj = [generate.to_json(c) for c in batch]
        djr = run.run_django(seeded, bj)
        sbr = run.run_sandbox(seeded, bj, binary)
        best = None
        for c, j in zip(batch, bj):
            d = still_fails(kind, detail, orig_dj, djr[j["name"]], sbr.get(j["name"]), j, gaps)
            if d:
                best = (c, j, djr[j["name"]], sbr.get(j["name"]), d)
                break  # candidates are sorted by size: the first one is the smallest
        if best is None:
            break
        cur, cj, dj, sb, cur_diff = best
        if log:
            log(f"  round {rnd}: {size(cur)} chars")
    cur = dict(cur, name=case["name"] + "_min")
    cj = generate.to_json(cur)
    return cur, cj, dj, sb, cur_diff[0], cur_diff[1]


def regression_name(kind, cj):
    h = hashlib.sha1(generate.case_text(cj).encode()).hexdigest()[:8]
    return f"rg_{kind.replace('-', '_')}_{h}"


def main(argv=None):
    import run
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--index", type=int, required=True, help="which case of the seed's batch")
    p.add_argument("--write-regression", action="store_true", help="add the result to regressions.json")
    args = p.parse_args(argv)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="fuzz-shrink-") as tmp:
        seeded = run.seed_db(Path(tmp) / "seed.sqlite3")
        case = generate.generate(args.seed, args.index + 1)[args.index]
        cj = generate.to_json(case)
        dj = run.run_django(seeded, [cj])[cj["name"]]
        sb = run.run_sandbox(seeded, [cj]).get(cj["name"])
        diff = run.classify(dj, sb)
        if not diff:
            print("no difference: nothing to shrink")
            return 0
        print(f"{diff[0]}: {generate.case_text(cj)}")
        small, sj, sd, ss, kind, detail = shrink(seeded, case, diff[0], diff[1], log=print)
        print(generate.case_text(sj))
        print(run.report(sj["name"], sd, ss))
        if args.write_regression:
            sj = dict(sj, name=regression_name(kind, sj))
            print(f"regressions.json: {run.add_regressions([sj])} case(s) added")
    return 1


if __name__ == "__main__":
    sys.exit(main())
