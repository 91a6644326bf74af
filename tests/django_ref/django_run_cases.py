"""The `run-cases` contract of app/sandbox/CONTRACTS.md, executed by real Django.

    python3 django_run_cases.py --db PATH CASES.json

Prints one JSON array on stdout:
  [{"name", "renders": [{"n_queries", "output", "sql": [...]}]}]  or  [{"name", "error"}].
Exit status 0 whenever CASES.json could be read, even if cases errored (same as the sandbox).

The output is the reference the sandbox is compared against, so this file does as
little as possible on top of Django: expressions are plain eval(), the template is a
plain django.template.Template, and the SQL is what CaptureQueriesContext records.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from djref import boot  # noqa: E402


def namespace():
    """Names an expression may use (the README's list plus the aggregate functions)."""
    from django.contrib.auth.models import User
    from django.core.paginator import Paginator
    from django.db.models import Avg, Count, Exists, Max, Min, OuterRef, Prefetch, Q, Sum

    from articles.models import Article, Tag
    from orgs.models import Membership, Organization
    from tasks.models import Task

    return {
        "__builtins__": __builtins__,
        "Article": Article, "Tag": Tag, "User": User,
        "Organization": Organization, "Membership": Membership, "Task": Task,
        "Prefetch": Prefetch, "Count": Count, "Sum": Sum, "Max": Max, "Min": Min, "Avg": Avg,
        "Q": Q, "Exists": Exists, "OuterRef": OuterRef, "Paginator": Paginator,
    }


def collapse(text):
    """Whitespace-insensitive output: template indentation is not what we compare."""
    return " ".join(text.split())


def run_case(case, ns):
    from django.core.cache import cache
    from django.db import connection, reset_queries
    from django.template import Context, Template
    from django.test.utils import CaptureQueriesContext

    name = case.get("name", "?")
    try:
        # Compiled once per case and outside the capture: parsing never queries, and a
        # syntax error (unknown filter/tag) is a case error, not a render error.
        template = Template(case["template"])
        cache.clear()
        renders = []
        for _ in range(int(case.get("renders", 1))):
            # Fresh expressions per render: a QuerySet's result cache must not carry over,
            # otherwise render 2 would be free for reasons other than {% cache %}.
            # The debug log keeps 9,000 queries at most: once full, CaptureQueriesContext's
            # slice of it is empty, so it starts empty for each render.
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                context = {var: eval(expr, dict(ns)) for var, expr in case.get("context", {}).items()}
                output = template.render(Context(context))
            renders.append({
                "n_queries": len(captured.captured_queries),
                "output": collapse(output),
                "sql": [q["sql"] for q in captured.captured_queries],
            })
        return {"name": name, "renders": renders}
    except Exception as exc:  # one bad case must not stop the others (contract)
        return {"name": name, "error": f"{type(exc).__name__}: {exc}"}


def main(argv=None):
    p = argparse.ArgumentParser(description="Run run-cases JSON through real Django.")
    p.add_argument("--db", required=True, help="existing SQLite file (e.g. made by seed.py)")
    p.add_argument("cases", help="JSON array of cases")
    args = p.parse_args(argv)

    if not os.path.exists(args.db):
        # Django would silently create an empty DB; every case would then error confusingly.
        sys.exit(f"django_run_cases.py: no such database file: {args.db}")
    try:
        with open(args.cases, encoding="utf-8") as f:
            cases = json.load(f)
    except (OSError, ValueError) as exc:
        sys.exit(f"django_run_cases.py: cannot read {args.cases}: {exc}")

    boot.setup(args.db)
    ns = namespace()
    results = [run_case(case, ns) for case in cases]
    json.dump(results, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
