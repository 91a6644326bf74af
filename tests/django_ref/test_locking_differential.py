"""Differential tests of SQLite's write lock between two server processes: the sandbox's
virtual-clock model (app/sandbox/src/django/dblock.rs) against real Django 5.2 running the same
two requests in two threads, each with its own connection to a file database, with real
sleeps (django_run_project.py, `"into_previous"` steps).

Per step: the status or the error, the body and the SQL; for the overlapping request, the
seconds it took — the sandbox's on its virtual clock, Django's on the wall clock (within
TOLERANCE_S: thread start-up and SQLite's busy-handler back-off add a few tens of ms). The times are small (a second) so the
suite stays quick; the lesson uses the same code with seconds a learner can see.
"""
import json
import shutil
import sys

import pytest

from differential_common import HERE, normalize, require_sandbox_bin, run

RUNNER = HERE / "django_run_project.py"
TOLERANCE_S = 0.2

VIEWS = '''import time

from django.db import transaction
from django.http import HttpResponse

from articles.models import Article
from tasks.models import Task


def publish(request, pk):
    """Publishes an article, then calls a slow service (the e-mail to subscribers)."""
    slow = float(request.GET.get("slow", "1"))
    with transaction.atomic():
        article = Article.objects.get(pk=pk)
        article.status = "published"
        article.save()
        if request.GET.get("short") is None:
            time.sleep(slow)
    if request.GET.get("short") is not None:
        time.sleep(slow)
    return HttpResponse(f"published {article.title}")


def done(request, pk):
    n = Task.objects.filter(pk=pk).update(status="done")
    return HttpResponse(f"{n} task done")


def done_atomic(request, pk):
    with transaction.atomic():
        task = Task.objects.get(pk=pk)
        task.status = "done"
        task.save()
    return HttpResponse(f"done: {task.title}")


def state(request, pk):
    return HttpResponse(f"{Article.objects.get(pk=pk).status} / {Task.objects.get(pk=pk).status}")
'''

URLS = [["publish/<int:pk>/", "publish", "publish"], ["done/<int:pk>/", "done", "done"],
        ["done-atomic/<int:pk>/", "done_atomic", "done_atomic"], ["state/<int:pk>/", "state", "state"]]


def settings(options):
    return ("DATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.sqlite3\",\n"
            f"        \"NAME\": \"db.sqlite3\",\n        \"OPTIONS\": {json.dumps(options)},\n    }}\n}}\n")


def case(name, first, second, into, options=None):
    files = {"views.py": VIEWS}
    if options is not None:
        files["settings.py"] = settings(options)
    return {"name": name, "files": files, "urls": URLS,
            "steps": [{"get": first}, {"get": second, "worker": 2, "into_previous": into}, {"get": "/state/3/"}]}


CASES = [
    # The second write waits for the first transaction's COMMIT (0.75 s), well inside 5 s.
    case("write_waits_for_the_lock", "/publish/3/?slow=1", "/done/3/", 0.25),
    # A shorter timeout than the transaction: "database is locked" after the timeout.
    case("write_gives_up_after_the_timeout", "/publish/3/?slow=1.2", "/done/3/", 0.2, {"timeout": 0.5}),
    # Read, then write, inside a DEFERRED transaction: SQLite fails at once (no waiting).
    case("read_then_write_fails_at_once", "/publish/3/?slow=1", "/done-atomic/3/", 0.25),
    # BEGIN IMMEDIATE takes the lock before the read: the same view waits instead.
    case("immediate_mode_waits_instead", "/publish/3/?slow=1", "/done-atomic/3/", 0.25, {"transaction_mode": "IMMEDIATE"}),
    # The slow call outside the transaction: the lock is held for a moment only.
    case("short_transaction_does_not_block", "/publish/3/?slow=1&short=1", "/done/3/", 0.25),
    # Starting after the first request finished: nothing to wait for.
    case("after_the_commit_no_wait", "/publish/3/?slow=0.5", "/done-atomic/3/", 0.8),
]


@pytest.fixture(scope="module")
def results(seeded_db, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("locking")
    cases_file = tmp / "cases.json"
    cases_file.write_text(json.dumps(CASES), encoding="utf-8")
    out = {}
    for label, cmd in (("django", [sys.executable, RUNNER]), ("sandbox", [require_sandbox_bin(), "run-project"])):
        db = tmp / f"{label}.sqlite3"
        shutil.copyfile(seeded_db, db)
        out[label] = {c["name"]: c for c in run([*cmd, "--db", db, cases_file], label)}
    return out


EXPECTED = {
    # (second step's outcome, final state)
    "write_waits_for_the_lock": ("1 task done", "published / done"),
    "write_gives_up_after_the_timeout": ("OperationalError: database is locked", "published / in_progress"),
    "read_then_write_fails_at_once": ("OperationalError: database is locked", "published / in_progress"),
    "immediate_mode_waits_instead": ("done:", "published / done"),
    "short_transaction_does_not_block": ("1 task done", "published / done"),
    "after_the_commit_no_wait": ("done:", "published / done"),
}


def outcome(step):
    return step.get("error") or step.get("body", "")


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_django_shows_the_lock_behaviour_the_lesson_teaches(results, name):
    """Guards the cases: real Django does what each case's name says."""
    steps = results["django"][name]["steps"]
    second, final = EXPECTED[name]
    assert outcome(steps[1]).startswith(second), steps[1]
    assert steps[2]["body"] == final, steps[2]


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_sandbox_matches_django_on_overlapping_requests(results, name):
    django, sandbox = results["django"][name], results["sandbox"][name]
    assert "steps" in sandbox, sandbox
    assert len(sandbox["steps"]) == len(django["steps"])
    for i, (d, s) in enumerate(zip(django["steps"], sandbox["steps"])):
        for key in ("status", "error", "body", "n_queries", "sql"):
            assert normalize(s.get(key)) == normalize(d.get(key)), f"step {i + 1} {key}: sandbox {s.get(key)!r}, Django {d.get(key)!r}"
        if i == 1:  # the overlapping request: the sandbox reports its seconds on the virtual clock
            d_el, s_el = d["elapsed"], s["elapsed"]
            assert abs(d_el - s_el) <= TOLERANCE_S, f"step {i + 1} took {s_el} s in the sandbox, {d_el} s in Django"
        else:
            assert "elapsed" not in s, "only a step sent into_previous reports its seconds"
