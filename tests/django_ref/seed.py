"""Create and fill a deterministic sample database with real Django.

    python3 seed.py --db PATH [--articles N]

The file is created by `migrate` (so the schema is exactly Django's), then filled
with explicit ids and formula-based values: the same arguments always give a
byte-for-byte equivalent data set, which is what lets the differential tests
compare the sandbox's rendered text with Django's.

The formulas for the first articles/tasks are chosen so that
/work/shared/sample_app/examples.json renders the same text and SQL as in
examples.django.json (Article i is by user (7*i % 40)+1, tags follow i % 4, every
task with i % 3 == 2 is `done` in Org 3), which makes that file a check of this
seed and of django_run_cases.py.
"""
import argparse
import datetime as dt
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from djref import boot  # noqa: E402

N_USERS = 40
N_TAGS = 15
N_ORGS = 4
N_TASKS = 40

FIRST_NAMES = ["Ada", "Grace", "Linus", "Guido", "Barbara", "Ken", "Margaret", "Dennis"]
LAST_NAMES = ["Lovelace", "Hopper", "Torvalds", "van Rossum", "Liskov", "Thompson", "Hamilton", "Ritchie"]

# Tag ids of article i by i % 4 (0..3 tags), before the per-dozen shift below.
TAG_PATTERN = {0: [], 1: [4], 2: [7, 12], 3: [3, 8, 10]}

# Titles that must come out escaped (autoescape cases); ids > 10 so examples.json is unaffected.
MARKUP_TITLES = {
    11: "<script>alert(1)</script>",
    12: "Q&A: \"quotes\" & 'apostrophes' <img src=x onerror=alert(1)>",
}

BASE_TIME = dt.datetime(2024, 1, 1, 9, 0, 0)


def coprime_step(n, candidates=(37, 41, 43, 47, 53)):
    """A multiplier that permutes range(n), so created_at is distinct but not in id order."""
    for k in candidates:
        if math.gcd(k, n) == 1:
            return k
    return 1


def article_rows(n):
    step = coprime_step(n)
    rows = []
    for i in range(1, n + 1):
        # Drafts at i % 8 in {3, 6}: ~25%, and not aligned with the tag pattern (i % 4).
        status = "draft" if i % 8 in (3, 6) else "published"
        # A permutation of hours, so ordering by -created_at is not just ordering by -id.
        created = BASE_TIME + dt.timedelta(hours=7 * ((i * step) % n), minutes=i % 60)
        shift = i // 12  # vary tag sets after the first dozen; examples need 1..10 unshifted
        tags = sorted({(t - 1 + shift) % N_TAGS + 1 for t in TAG_PATTERN[i % 4]})
        rows.append(
            dict(
                id=i,
                author_id=(7 * i) % N_USERS + 1,
                title=MARKUP_TITLES.get(i, f"Article {i}"),
                slug=f"article-{i}",
                body="" if i % 5 == 0 else f"Body of article {i}.",
                status=status,
                created_at=created,
                tags=tags,
            )
        )
    return rows


def seed(n_articles):
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import transaction

    from articles.models import Article, Tag
    from orgs.models import Membership, Organization
    from tasks.models import Task

    call_command("migrate", verbosity=0)
    if User.objects.exists() or Article.objects.exists():
        sys.exit(f"seed.py: {os.environ['DJANGO_REF_DB']} already has data; give a new file")

    # Only roles are random; a fixed seed keeps them stable across runs and machines.
    rng = random.Random(20240101)

    with transaction.atomic():
        users = []
        for i in range(1, N_USERS + 1):
            users.append(
                User(
                    id=i,
                    username=f"user{i:03d}",
                    # Every 4th user has no first name: exercises |default and {% if %}.
                    first_name="" if i % 4 == 0 else FIRST_NAMES[i % len(FIRST_NAMES)],
                    last_name=LAST_NAMES[(i * 3) % len(LAST_NAMES)],
                    email=f"user{i:03d}@example.com",
                    password="!unusable",
                    is_staff=i % 10 == 1,
                    is_superuser=i == 1,
                    is_active=i % 13 != 0,
                    # Only a few users ever logged in: exercises |default_if_none.
                    last_login=BASE_TIME + dt.timedelta(days=i) if i % 6 == 0 else None,
                    date_joined=BASE_TIME - dt.timedelta(days=400 - i * 3),
                )
            )
        User.objects.bulk_create(users)

        Tag.objects.bulk_create(
            Tag(id=i, name=f"tag{i:02d}", slug=f"tag-{i:02d}") for i in range(1, N_TAGS + 1)
        )

        rows = article_rows(n_articles)
        Article.objects.bulk_create(
            Article(**{k: v for k, v in r.items() if k != "tags"}) for r in rows
        )
        Through = Article.tags.through
        links = [Through(article_id=r["id"], tag_id=t) for r in rows for t in r["tags"]]
        for pos, link in enumerate(links, start=1):
            link.id = pos
        Through.objects.bulk_create(links)

        Organization.objects.bulk_create(
            Organization(id=i, name=f"Org {i}", slug=f"org-{i}") for i in range(1, N_ORGS + 1)
        )
        memberships = []
        for org in range(1, N_ORGS + 1):
            for u in range(1, N_USERS + 1):
                if (u + org) % 3 == 0:  # ~1/3 of users per org, each (org, user) once
                    role = "owner" if u == org else rng.choice(["admin", "member", "member"])
                    memberships.append(Membership(organization_id=org, user_id=u, role=role))
        for pos, m in enumerate(memberships, start=1):
            m.id = pos
        Membership.objects.bulk_create(memberships)

        tasks = []
        statuses = {0: "in_progress", 1: "open", 2: "done"}
        for i in range(1, N_TASKS + 1):
            tasks.append(
                Task(
                    id=i,
                    # Org 4 deliberately has no tasks ({% empty %} on org.tasks.all).
                    organization_id=i % 3 + 1,
                    title=f"Task {i}",
                    status=statuses[i % 3],
                    assigned_to_id=None if i % 4 == 0 else (5 * i) % N_USERS + 1,
                    created_by_id=(3 * i) % N_USERS + 1,
                    updated_by_id=None if i % 5 == 0 else (11 * i) % N_USERS + 1,
                    created_at=BASE_TIME + dt.timedelta(hours=(i * 17) % N_TASKS * 5, minutes=i),
                )
            )
        Task.objects.bulk_create(tasks)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True, help="SQLite file to create (must not hold data yet)")
    p.add_argument("--articles", type=int, default=60, help="number of articles (default 60)")
    args = p.parse_args(argv)
    if args.articles < 12:
        p.error("--articles must be at least 12 (the markup titles are articles 11 and 12)")
    boot.setup(args.db)
    seed(args.articles)


if __name__ == "__main__":
    main()
