"""The `run-project` contract of app/sandbox/CONTRACTS.md, executed by real Django 5.2.

    python3 django_run_project.py --db PATH CASES.json

Prints one JSON array on stdout: [{"name", "steps": [...]}] or [{"name", "error"}] for a case
whose code does not load. Exit status 0 whenever CASES.json could be read.

Like django_run_cases.py, this is the reference the sandbox is compared against, so it adds as
little as possible on top of Django: requests go through django.test.Client, SQL is what
CaptureQueriesContext records, tests run under pytest + pytest-django (which runs Django's own
TestCase machinery). What it does add, and why:

Settings
    djref/project_settings.py (djref.settings plus the contract's DEBUG, USE_TZ, CACHES,
    SESSION_ENGINE, MIDDLEWARE, ALLOWED_HOSTS and a locmem template loader). Per case the runner
    refills the template dict in place and installs the case's URLconf as the module `urls`.

Isolation of cases (every case starts from the --db file's data and nothing else)
    - the DB: the connection is closed and pointed at a fresh temporary copy of the file; the
      copy is deleted after the case. The given file is never opened;
    - the cache is cleared, ContentType's id cache too, and the connection's savepoint
      counter (the n of savepoint ids "s<thread>_x<n>") restarts, as in a fresh process;
    - views.py is executed as a new module named `views` (so Django's messages say e.g.
      "The view views.article_list didn't return an HttpResponse object"); it is in
      sys.modules during its case, so tests.py may `from views import ...`;
    - signal receivers: the receiver lists of Django's built-in signals are saved before the
      case and restored after it, so a case's @receiver functions do not fire in later cases
      (weak references alone would not do: a module's functions live as long as its cycles).

The virtual clock (deterministic TTLs, cookie timestamps and "now" values)
    Every case starts at Unix 1767258000 = 2026-01-01 09:00:00 UTC and time stands still until
    an {"advance": seconds} step moves it. Patched for the whole process:
    - time.time: read at call time as `time.time()` by LocMemCache (expiry), cache_page's
      Expires header (django.utils.cache), signing's TimestampSigner (the signed-cookie
      session) and HttpResponse.set_cookie;
    - django.utils.timezone.now: returns the naive UTC datetime of the clock (USE_TZ=False).
      Used by update_last_login (force_login), auto_now/auto_now_add fields;
    - model fields whose default *is* the original timezone.now function object (e.g.
      User.date_joined): a default holds the function itself, so patching the module
      attribute does not reach it; those defaults are pointed at the virtual now.
    Not virtual: datetime.now()/date.today() called directly, and SQL-side clocks
    (functions.Now() is CURRENT_TIMESTAMP, evaluated by SQLite).

Steps
    {"get": url, "user": username?, "worker": 1|2?}
        Sent to that server process (see WORKERS: each has its own locmem cache). A new django.test.Client; with "user", force_login(User.objects.get(username=...))
        runs before the capture starts (its SELECT and last_login UPDATE are not counted).
        -> {"status", "n_queries", "body" (whitespace collapsed), "sql"}. The client re-raises
        a view's exception (as in tests); Http404 and unknown URLs are 404 responses.
    {"get": url, "worker": 2, "into_previous": seconds}
        Starts `seconds` (real time) after the previous get step started, in a thread of its
        own with its own database connection, while the previous one runs in another: the
        two overlap as two server processes would. Both report "elapsed" (seconds, wall
        clock, rounded to 0.01): the transactions lab's write-lock waits and timeouts come
        from SQLite itself. The case's settings.py may set DATABASES["default"]["OPTIONS"]
        (timeout, transaction_mode); it is applied to the case's connections.
    {"request": {"method", "path", "data"?, "headers"?, "user"?, "follow"?}}   (version 2)
        GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS through the test client; `data` is the
        query string for GET/HEAD, else an application/x-www-form-urlencoded body (a list value
        repeats its key); `headers` as the client's headers= argument.
        -> {"status", "n_queries", "body", "sql", "headers": {Name: value}, "redirect_chain"?}:
        every response header but Date and Content-Length, by Django's spelling; with "follow",
        the chain of [url, status] and the last response's status, body and headers (the
        queries are those of every request of the chain).
    {"advance": seconds} -> {}
    {"run": "statements"}
        exec'd in the views module's namespace (names persist to later steps, as in a shell);
        -> {"n_queries", "sql", "output"}: output is str() of the value of a final expression
        statement (so "None" for `obj.save()`), else "".
    {"test": "tests.py"}
        The file is run by pytest in-process with pytest-django, in a temporary directory
        holding only that file and a conftest.py that overrides pytest-django's
        django_db_setup with a no-op: no test database is created, tests run on the case's
        current DB, each in a transaction rolled back afterwards (django.test.TestCase classes
        through their own setUpClass/setUpTestData/_pre_setup; @pytest.mark.django_db
        functions through pytest-django's TestCase wrapper). Both styles are collected:
        TestCase classes, test_* functions and Test* classes, with pytest-django's fixtures
        (client, rf, db, django_user_model, django_assert_num_queries, ...).
        -> {"tests": [{"name", "outcome", "message"}]} sorted by name. name is "Class.method"
        for methods, the function name for module-level functions. outcome: "pass"; "fail"
        when the test raised AssertionError or pytest's Failed (pytest.fail, and so
        django_assert_num_queries); "error" for any other exception, and for failures in
        fixtures, setUpClass/setUpTestData or teardown; "skip" for skipped tests. message is
        the first line of "ExceptionType: str(exc)" ("" for pass). Note that a
        TransactionTestCase (or a transactional_db test) flushes the tables afterwards: on
        the case's copy, so the rest of that case sees empty tables.
        A tests file that does not import gives {"error": ...} for the step.
    Any step that raises -> {"error": "ExceptionType: message"} (just "ExceptionType" when the
    message is empty); the next steps still run.

Case-level "settings" (version 2): {"MIDDLEWARE": [...]?, "CACHES": {...}?} replace those two
settings for the case (override_settings). Every other NAME.py of "files" (not views.py or
tests.py) is imported as the module NAME, in files order, before views.py: a middleware class
in `middleware.py` can be named "middleware.Timing" in MIDDLEWARE.

Case-level "migrations" (applied in order, before the steps, with connection.schema_editor()):
    {"model": "Task", "add_index": {"fields": ["organization", "-created_at"], "name": "..."}}
        what makemigrations + migrate do for a models.Index in Meta.indexes (AddIndex);
    {"model": "Task", "remove_index": "name"}
        RemoveIndex: DROP INDEX "name" (the index's fields do not matter for dropping it);
    {"model": "Task", "db_index": "title"}
        the index that setting db_index=True on that field ends with:
        schema_editor._create_index_sql(model, fields=[field]), named as Django names it
        ("<table>_<column>_<hash>"). Django's AlterField on SQLite would also rebuild the
        table around it; the rebuild changes neither data nor plans, so it is not done.
    "model" is a model class name (Article, Tag, User, Organization, Membership, Task) or
    "app_label.Model". A migration that fails makes the case a {"name", "error"}.

Case-level errors ({"name", "error"}): views.py that does not compile or import, a URL entry
naming a function views.py does not have ("AttributeError: module 'views' has no attribute
'x'", as urls.py would raise), a failing migration.

URLs: [route, view_function_name, "namespace:name"]. Entries with a namespace go into one
path("", include((patterns, namespace), namespace=namespace)) per namespace, placed where the
namespace first appears, patterns in the given order; entries whose name has no ":" are
top-level paths (name "" or null: unnamed).
"""
import argparse
import ast
import contextlib
import datetime as dt
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
import time
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from djref import boot  # noqa: E402

CLOCK_START = 1767258000.0  # 2026-01-01 09:00:00 UTC


# ---------------------------------------------------------------- the virtual clock

class VirtualClock:
    def __init__(self):
        self.now = CLOCK_START

    def reset(self):
        self.now = CLOCK_START

    def advance(self, seconds):
        self.now += seconds

    def time(self):
        return self.now

    def naive_utc_now(self):
        return dt.datetime.fromtimestamp(self.now, tz=dt.timezone.utc).replace(tzinfo=None)


CLOCK = VirtualClock()


def install_clock():
    """Patch time.time, django.utils.timezone.now and the field defaults that hold the
    original timezone.now (see the module docstring). Call after django.setup()."""
    from django.apps import apps
    from django.utils import timezone

    original_now = timezone.now
    time.time = CLOCK.time
    timezone.now = CLOCK.naive_utc_now
    for model in apps.get_models():
        for field in model._meta.fields:
            if field.default is original_now:
                field.default = CLOCK.naive_utc_now
                # Field._get_default is a cached_property that may already hold the old one.
                field.__dict__.pop("_get_default", None)


# ---------------------------------------------------------------- helpers

def collapse(text):
    return " ".join(text.split())


def describe(exc):
    """'ExceptionType: message', or just the type when the message is empty."""
    msg = str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def first_line(text):
    return text.splitlines()[0] if text else ""


def captured_sql(captured):
    return [q["sql"] for q in captured.captured_queries]


def builtin_signals():
    """Django's own Signal objects, whose receiver lists a case may extend."""
    import django.contrib.auth.signals as auth_signals
    import django.core.signals as core_signals
    import django.db.backends.signals as backend_signals
    import django.db.models.signals as model_signals
    import django.test.signals as test_signals
    from django.dispatch import Signal

    found = []
    for mod in (model_signals, core_signals, auth_signals, backend_signals, test_signals):
        for value in vars(mod).values():
            if isinstance(value, Signal) and value not in found:
                found.append(value)
    return found


@contextlib.contextmanager
def restored_signals():
    signals = builtin_signals()
    saved = [(sig, list(sig.receivers)) for sig in signals]
    try:
        yield
    finally:
        for sig, receivers in saved:
            with sig.lock:
                sig.receivers = receivers
                sig.sender_receivers_cache.clear()


def find_model(name):
    from django.apps import apps

    if "." in name:
        return apps.get_model(name)
    matches = [m for m in apps.get_models() if m.__name__ == name]
    if len(matches) != 1:
        raise LookupError(f"migrations: no single model named {name!r}")
    return matches[0]


def apply_migration(mig):
    from django.db import connection, models

    model = find_model(mig["model"])
    with connection.schema_editor() as editor:
        if "add_index" in mig:
            spec = mig["add_index"]
            editor.add_index(model, models.Index(fields=spec["fields"], name=spec["name"]))
        elif "remove_index" in mig:
            # remove_index only uses the name; Index() needs some field to be constructed.
            editor.remove_index(model, models.Index(fields=[model._meta.pk.name], name=mig["remove_index"]))
        elif "db_index" in mig:
            field = model._meta.get_field(mig["db_index"])
            editor.execute(editor._create_index_sql(model, fields=[field]))
        else:
            raise ValueError(f"migrations: unknown operation in {mig!r}")


def build_urlconf(entries, views):
    """The module `urls` for the case's [route, view_name, "ns:name"] entries."""
    from django.urls import include, path

    top = []  # path objects, and [namespace, [paths]] placeholders at first appearance
    groups = {}
    for route, view_name, full_name in entries:
        view = getattr(views, view_name)  # AttributeError, as urls.py's `views.x` would raise
        ns, _, name = (full_name or "").rpartition(":")
        pattern = path(route, view, name=name or None)
        if ns:
            if ns not in groups:
                groups[ns] = []
                top.append((ns, groups[ns]))
            groups[ns].append(pattern)
        else:
            top.append(pattern)
    module = types.ModuleType("urls")
    module.urlpatterns = [
        path("", include((item[1], item[0]), namespace=item[0])) if isinstance(item, tuple) else item
        for item in top
    ]
    return module


def load_module(name, filename, source):
    """Execute `source` as a brand-new module `name` (registered in sys.modules)."""
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# ---------------------------------------------------------------- steps

def step_get(step):
    switch_worker(int(step.get("worker") or 1))
    return plain_get(step)


_NO_VALUE = object()


def step_run(source, namespace):
    """exec the statements; a final expression statement is eval'd for `output`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tree = ast.parse(source, "<run>", "exec")
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = compile(tree, "<run>", "exec")
    final = compile(ast.Expression(last.value), "<run>", "eval") if last else None
    value = _NO_VALUE
    with CaptureQueriesContext(connection) as captured:
        exec(body, namespace)
        if final is not None:
            value = eval(final, namespace)
        # str() inside the capture: str(queryset) evaluates it, and that query is the step's.
        output = "" if value is _NO_VALUE else str(value)
    return {"n_queries": len(captured.captured_queries), "sql": captured_sql(captured), "output": output}


class _LoadError(Exception):
    """Carries an already formatted 'ExceptionType: message' out of a step."""


CONFTEST = '''\
import pytest


@pytest.fixture(scope="session")
def django_db_setup():
    """The case's database is the test database: nothing to create or destroy."""
'''


class OutcomeRecorder:
    """pytest plugin recording each test's outcome from the exceptions of its phases."""

    def __init__(self):
        self.tests = {}
        self.load_error = None

    def _record(self, item, call):
        name = f"{item.cls.__name__}.{item.name}" if getattr(item, "cls", None) else item.name
        entry = self.tests.setdefault(name, {"name": name, "outcome": "pass", "message": ""})
        if entry["outcome"] != "pass" or call.excinfo is None:
            return  # keep the first problem (a teardown error after a failure is secondary)
        exc = call.excinfo.value
        if isinstance(exc, pytest.skip.Exception):
            outcome = "skip"
        elif call.when == "call" and isinstance(exc, (AssertionError, pytest.fail.Exception)):
            outcome = "fail"
        else:
            outcome = "error"
        entry["outcome"] = outcome
        entry["message"] = first_line(describe(exc))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        # A wrapper, because the hook stops at the first report made. After the yield,
        # pytest's unittest plugin has moved a TestCase's exception into call.excinfo.
        report = yield
        self._record(item, call)
        return report

    def pytest_exception_interact(self, node, call, report):
        if isinstance(node, pytest.Collector) and self.load_error is None:
            exc = call.excinfo.value
            # Import and syntax errors come wrapped in CollectError, the cause is the real one.
            if isinstance(exc, pytest.Collector.CollectError) and exc.__cause__ is not None:
                exc = exc.__cause__
            self.load_error = describe(exc)


def step_test(filename, files):
    if importlib.util.find_spec("pytest_django") is None:
        raise RuntimeError("pytest-django is not installed (pip install -r tests/django_ref/requirements.txt)")
    if filename not in files:
        raise FileNotFoundError(f"no file {filename!r} in this case")
    base = os.path.basename(filename)
    mod_name = base[:-3] if base.endswith(".py") else base
    tmp = tempfile.mkdtemp(prefix="djref-tests-")
    saved_path = list(sys.path)
    saved_env = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    saved_dont_write = sys.dont_write_bytecode
    for stale in (mod_name, "conftest"):
        sys.modules.pop(stale, None)
    try:
        with open(os.path.join(tmp, base), "w", encoding="utf-8") as f:
            f.write(files[filename])
        with open(os.path.join(tmp, "conftest.py"), "w", encoding="utf-8") as f:
            f.write(CONFTEST)
        ini = os.path.join(tmp, "pytest.ini")
        with open(ini, "w", encoding="utf-8") as f:
            f.write(f"[pytest]\npython_files = {base}\ndjango_find_project = false\n")
        # Only pytest-django, whatever else is installed; nothing written next to the tests.
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        sys.dont_write_bytecode = True
        outcomes = OutcomeRecorder()
        code = pytest.main(
            [os.path.join(tmp, base), "-c", ini, "--rootdir", tmp, "-p", "pytest_django.plugin",
             "-p", "no:cacheprovider", "--capture=sys"],
            plugins=[outcomes],
        )
    finally:
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_dont_write
        if saved_env is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved_env
        for stale in (mod_name, "conftest"):
            sys.modules.pop(stale, None)
        shutil.rmtree(tmp, ignore_errors=True)
    if outcomes.load_error is not None:
        raise _LoadError(outcomes.load_error)
    if int(code) not in (0, 1, 5):  # ok, some tests failed, no tests collected
        raise RuntimeError(f"pytest exited with {code!r}")
    return {"tests": sorted(outcomes.tests.values(), key=lambda t: t["name"])}


def timed(fn, *args):
    """fn(*args) as a step: its result or error, with the seconds it took."""
    started = time.perf_counter()
    try:
        out = fn(*args)
    except Exception as exc:
        out = {"error": describe(exc)}
    out["elapsed"] = round(time.perf_counter() - started, 2)
    return out


def run_overlapping(first, second):
    """The get steps `first` and `second`, the second starting `second["into_previous"]`
    seconds after the first, each in a thread with its own connection."""
    import threading

    from django.db import connection

    results = [None, None]

    def worker(i, step, delay):
        if delay:
            time.sleep(delay)
        try:
            results[i] = timed(plain_get, step)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(0, first, 0)),
               threading.Thread(target=worker, args=(1, second, float(second["into_previous"])))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def plain_get(step):
    """A get step in the current worker (overlapping steps skip the cache swap: their threads
    share the process's cache).

    The test client re-raises a view's exception by listening to the global
    got_request_exception signal, so with two threads each client would also catch the
    other's: the exception is taken from this thread's own request instead."""
    import threading

    from django.contrib.auth.models import User
    from django.core.signals import got_request_exception
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    me, raised = threading.get_ident(), []

    def mine(sender, request=None, **kwargs):
        if threading.get_ident() == me:
            raised.append(sys.exc_info()[1])

    client = Client(raise_request_exception=False)
    if step.get("user"):
        client.force_login(User.objects.get(username=step["user"]))
    got_request_exception.connect(mine, weak=False, dispatch_uid=f"overlap-{me}")
    try:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(step["get"])
    finally:
        got_request_exception.disconnect(dispatch_uid=f"overlap-{me}")
    if raised:
        raise raised[0]
    return {
        "status": response.status_code,
        "n_queries": len(captured.captured_queries),
        "body": collapse(response.content.decode("utf-8", errors="replace")),
        "sql": captured_sql(captured),
    }


REQUEST_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Left out of a response's headers: they vary with the moment and the encoding, not the project.
UNREPORTED_HEADERS = {"date", "content-length"}


def step_request(spec):
    """{"request": {"method", "path", "data"?, "headers"?, "user"?, "follow"?}} through the
    test client: GET and HEAD send `data` as the query string, the other methods as an
    application/x-www-form-urlencoded body (a list value repeats its key)."""
    from urllib.parse import urlencode

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    method = str(spec.get("method", "GET")).upper()
    if method not in REQUEST_METHODS:
        raise ValueError(f"unknown method {method!r}: one of {', '.join(REQUEST_METHODS)}")
    path = spec["path"]
    data = spec.get("data") or {}
    headers = spec.get("headers") or {}
    follow = bool(spec.get("follow", False))
    client = Client()
    if spec.get("user"):
        client.force_login(User.objects.get(username=spec["user"]))
    send = getattr(client, method.lower())
    with CaptureQueriesContext(connection) as captured:
        if method in ("GET", "HEAD"):
            response = send(path, data=data, follow=follow, headers=headers)
        else:
            body = urlencode(data, doseq=True)
            response = send(path, data=body, content_type="application/x-www-form-urlencoded", follow=follow, headers=headers)
    out = {
        "status": response.status_code,
        "n_queries": len(captured.captured_queries),
        "body": collapse(response.content.decode("utf-8", errors="replace")),
        "sql": captured_sql(captured),
        "headers": {k: v for k, v in response.items() if k.lower() not in UNREPORTED_HEADERS},
    }
    if follow:
        out["redirect_chain"] = [[url, status] for url, status in response.redirect_chain]
    return out


def apply_database_options(files):
    """DATABASES["default"]["OPTIONS"] of the case's settings.py, on the case's connections."""
    from django.db import connection

    if "settings.py" not in files:
        return
    options = settings_namespace(files).get("DATABASES", {}).get("default", {}).get("OPTIONS", {})
    connection.close()
    connection.settings_dict["OPTIONS"] = dict(options)


def run_step(step, views, files):
    if "get" in step:
        return step_get(step)
    if "request" in step:
        return step_request(step["request"])
    if "advance" in step:
        CLOCK.advance(step["advance"])
        return {}
    if "run" in step:
        return step_run(step["run"], views.__dict__)
    if "test" in step:
        return step_test(step["test"], files)
    raise ValueError(f"unknown step {step!r}")


# ---------------------------------------------------------------- cases

@contextlib.contextmanager
def fresh_db_copy(src):
    """Point the default connection at a new temporary copy of `src` for one case."""
    from django.db import connection

    connection.close()
    fd, copy = tempfile.mkstemp(prefix="djref-case-", suffix=".sqlite3")
    os.close(fd)
    shutil.copyfile(src, copy)
    connection.settings_dict["NAME"] = copy
    try:
        yield copy
    finally:
        connection.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(copy + suffix)


# Server processes: `{"get": url, "worker": 2}` goes to worker 2. With Django's default cache
# (locmem) every process has its own cache, emulated by swapping the cache's contents; a
# settings.py naming a shared backend (Redis, Memcached, database, files) keeps one cache for
# all, which this runner stands in for with the same locmem cache.
WORKERS = {"current": 1, "stash": {}, "shared": False}
SHARED_BACKENDS = ("backends.redis.", "backends.memcached.", "backends.db.", "backends.filebased.")


def cache_is_shared(files):
    settings = files.get("settings.py", "")
    for quote in ('"BACKEND"', "'BACKEND'"):
        if quote in settings:
            backend = settings.split(quote, 1)[1]
            for stop in (",", "}", "\n"):
                backend = backend.split(stop, 1)[0]
            return any(b in backend for b in SHARED_BACKENDS)
    return False


def switch_worker(worker):
    from django.core.cache import caches

    if worker == WORKERS["current"]:
        return
    if not WORKERS["shared"] and hasattr(caches["default"], "_cache"):
        local = caches["default"]
        WORKERS["stash"][WORKERS["current"]] = (dict(local._cache), dict(local._expire_info))
        entries, expiry = WORKERS["stash"].pop(worker, ({}, {}))
        local._cache.clear()
        local._cache.update(entries)
        local._expire_info.clear()
        local._expire_info.update(expiry)
    WORKERS["current"] = worker


def reset_globals(case):
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.core.cache import cache
    from django.db import connection
    from django.urls import clear_url_caches, set_urlconf

    CLOCK.reset()
    WORKERS.update(current=1, stash={}, shared=cache_is_shared(case.get("files", {})))
    # The savepoint ids' counter ("s<thread>_x<n>") lives on the connection object, which
    # outlives connections and cases; start it over so a case's SQL does not depend on
    # the cases before it.
    connection.clean_savepoints()
    cache.clear()
    from django.core import mail
    mail.outbox = []
    ContentType.objects.clear_cache()
    templates = settings.TEMPLATES[0]["OPTIONS"]["loaders"][0][1]
    templates.clear()
    templates.update({path[len("templates/"):]: src for path, src in case.get("files", {}).items()
                      if path.startswith("templates/")})
    clear_url_caches()
    set_urlconf(None)


def connection_options_reset():
    from django.db import connection

    connection.close()
    connection.settings_dict["OPTIONS"] = {}


# What a case's "settings" may replace (contract version 2).
CASE_SETTINGS = ("MIDDLEWARE", "CACHES")


def case_modules(files):
    """The case's own modules besides views.py and tests.py (`middleware.py`, `signals.py`, …),
    in files order: each is importable by its name."""
    return [(name[:-3], name) for name in files if name.endswith(".py") and "/" not in name and name not in ("views.py", "tests.py")]


# What a lab's settings.py sets for the request cycle (the contract: its MIDDLEWARE takes
# effect, with the site-wide cache's settings); CACHES is read for what it shares (above).
SETTINGS_PY_KEYS = ("MIDDLEWARE", "CACHE_MIDDLEWARE_SECONDS", "CACHE_MIDDLEWARE_KEY_PREFIX", "APPEND_SLASH")


def settings_namespace(files):
    """What the case's settings.py defines, executed as Django imports it ({} without one)."""
    namespace = {}
    if "settings.py" in files:
        exec(compile(files["settings.py"], "settings.py", "exec"), namespace)
    return namespace


def settings_py(files):
    """The request-cycle settings a case's settings.py sets (none when it does not run: the
    case then fails to load where the sandbox's does)."""
    try:
        namespace = settings_namespace(files)
    except Exception:
        return {}
    return {k: namespace[k] for k in SETTINGS_PY_KEYS if k in namespace}


def run_case(case, db_path):
    from django.test import override_settings

    unknown = set(case.get("settings") or {}) - set(CASE_SETTINGS)
    if unknown:
        return {"name": case.get("name", "?"), "error": f"ValueError: a case's settings may set {', '.join(CASE_SETTINGS)}, not {', '.join(sorted(unknown))}"}
    with override_settings(**{**settings_py(case.get("files", {})), **(case.get("settings") or {})}):
        return run_case_in_settings(case, db_path)


def run_case_in_settings(case, db_path):
    name = case.get("name", "?")
    files = case.get("files", {})
    own = case_modules(files)
    with fresh_db_copy(db_path), restored_signals():
        try:
            try:
                reset_globals(case)
                for module, filename in own:
                    load_module(module, filename, files[filename])
                views = load_module("views", "views.py", files.get("views.py", ""))
                sys.modules["urls"] = build_urlconf(case.get("urls", []), views)
                for mig in case.get("migrations", []):
                    apply_migration(mig)
            except Exception as exc:  # the case's code does not load
                return {"name": name, "error": describe(exc)}
            steps = []
            all_steps = case.get("steps", [])
            overlapping = any("into_previous" in s for s in all_steps)
            if overlapping:
                apply_database_options(files)
            for i, step in enumerate(all_steps):
                if overlapping and "get" in step:
                    following = all_steps[i + 1] if i + 1 < len(all_steps) else {}
                    if "into_previous" in step:
                        continue  # ran with the step before it
                    if "into_previous" in following:
                        steps.extend(run_overlapping(step, following))
                    else:
                        steps.append(timed(plain_get, step))
                    continue
                try:
                    steps.append(run_step(step, views, files))
                except _LoadError as exc:
                    steps.append({"error": str(exc)})
                except Exception as exc:  # the contract: an error step, the next steps still run
                    steps.append({"error": describe(exc)})
            return {"name": name, "steps": steps}
        finally:
            sys.modules.pop("views", None)
            sys.modules.pop("urls", None)
            for module, _ in own:
                sys.modules.pop(module, None)
            connection_options_reset()


def main(argv=None):
    p = argparse.ArgumentParser(description="Run run-project JSON through real Django.")
    p.add_argument("--db", required=True, help="existing SQLite file (e.g. made by seed.py); never modified")
    p.add_argument("cases", help="JSON array of project cases")
    args = p.parse_args(argv)

    if not os.path.exists(args.db):
        sys.exit(f"django_run_project.py: no such database file: {args.db}")
    try:
        with open(args.cases, encoding="utf-8") as f:
            cases = json.load(f)
    except (OSError, ValueError) as exc:
        sys.exit(f"django_run_project.py: cannot read {args.cases}: {exc}")

    db_path = os.path.abspath(args.db)
    # Django only ever connects to per-case copies: fresh_db_copy() points the connection at
    # one before anything queries.
    boot.setup(db_path, settings_module="djref.project_settings")
    install_clock()

    out = sys.stdout
    # Whatever cases print (views, run steps, pytest's report) must not corrupt the JSON;
    # DJREF_SHOW_OUTPUT=1 sends it to stderr instead of dropping it (for debugging).
    with contextlib.redirect_stdout(sys.stderr if os.environ.get("DJREF_SHOW_OUTPUT") else io.StringIO()):
        results = [run_case(case, db_path) for case in cases]
    json.dump(results, out, indent=1, ensure_ascii=False)
    out.write("\n")


if __name__ == "__main__":
    main()
