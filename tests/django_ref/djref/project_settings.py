"""Settings of the run-project contract (app/sandbox/CONTRACTS.md), on top of djref.settings.

These are the settings the learner is shown; django_run_project.py fills in the per-case
parts at run time:
  - PROJECT_TEMPLATES: the case's `templates/<path>` files, {path: source}. The locmem
    loader keeps a reference to this very dict, so the runner refills it in place;
  - ROOT_URLCONF: names a module the runner builds from the case's "urls" and puts in
    sys.modules under that name.
"""
from djref.settings import *  # noqa: F401,F403  (same apps, DB, cache, time zone)

DEBUG = False
USE_TZ = False

# django.test.Client sends Host: testserver. The test runner's setup_test_environment()
# would add it, but `get` steps do not run under the test runner.
ALLOWED_HOSTS = ["testserver"]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "run-project",
    }
}

# Sent mail is kept in django.core.mail.outbox, as under Django's test runner (the lab's
# server does the same, so a view's e-mail can be observed).
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# A session lives in its signed cookie: reading or writing it costs no query.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "urls"

PROJECT_TEMPLATES = {}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": False,
        "OPTIONS": {
            # No context processors: a template sees only what the view passes (plus the
            # csrf token RequestContext always adds, which costs nothing).
            "context_processors": [],
            # Not wrapped in the cached loader: every case has its own sources.
            "loaders": [("django.template.loaders.locmem.Loader", PROJECT_TEMPLATES)],
        },
    }
]
