"""Settings of the reference project: the smallest setup that reproduces what the
sample app's lessons assume (SQLite, naive datetimes, default template builtins,
locmem cache for `{% cache %}`).

The database path comes from the DJANGO_REF_DB environment variable, which
djref.boot.setup() sets from each script's --db argument.
"""
import os

SECRET_KEY = "django-ref-not-secret"
DEBUG = False
USE_TZ = False  # the sandbox stores and renders naive datetimes, like the spec DB
TIME_ZONE = "UTC"
USE_I18N = False

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "articles",
    "orgs",
    "tasks",
]

# schema.sql was produced with BigAutoField ids: on SQLite the pk column is still
# "integer", but FKs to these models (e.g. articles_article_tags.article_id) are "bigint".
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_REF_DB", ":memory:"),
    }
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": False,
        "OPTIONS": {},
    }
]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "django-ref",
    }
}
