"""Time the article-list page in real Django on native SQLite (the baseline the
in-browser sandbox's numbers are compared with).

    python3 seed.py --db /tmp/bench.sqlite3 --articles 2000
    python3 bench_django.py --db /tmp/bench.sqlite3 --per-page 50 --repeat 20

Prints {"n_plus_one_ms": median, "fixed_ms": median, "n_queries": [n_plus_one, fixed]}.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from djref import boot  # noqa: E402

TEMPLATE = (
    "{% for a in articles %}<li>{{ a.title }} by {{ a.author.username }}: "
    "{% for t in a.tags.all %}{{ t.name }}{% if not forloop.last %}, {% endif %}{% endfor %}"
    "</li>{% endfor %}"
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--per-page", type=int, default=50)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)
    if not os.path.exists(args.db):
        sys.exit(f"bench_django.py: no such database file: {args.db} (make it with seed.py)")
    boot.setup(args.db)

    from django.db import connection
    from django.template import Context, Template
    from django.test.utils import CaptureQueriesContext

    from articles.models import Article

    template = Template(TEMPLATE)
    variants = {
        "n_plus_one": lambda: Article.objects.published().order_by("-created_at")[: args.per_page],
        "fixed": lambda: Article.objects.published().order_by("-created_at")
        .select_related("author").prefetch_related("tags")[: args.per_page],
    }

    def render(make_qs):
        # A new QuerySet each time: a reused one would serve its cached rows for free.
        return template.render(Context({"articles": make_qs()}))

    n_queries = []
    for make_qs in variants.values():
        # Counted in a separate, untimed render: the debug cursor that records the SQL
        # adds per-query overhead that must not be part of the timings.
        with CaptureQueriesContext(connection) as captured:
            render(make_qs)
        n_queries.append(len(captured.captured_queries))

    result = {}
    for key, make_qs in variants.items():
        render(make_qs)  # warm-up: connection, statement cache, template internals
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            render(make_qs)
            times.append((time.perf_counter() - t0) * 1000.0)
        result[f"{key}_ms"] = round(statistics.median(times), 3)
    result["n_queries"] = n_queries
    print(json.dumps(result))


if __name__ == "__main__":
    main()
