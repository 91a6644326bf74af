"""One entry point that every script uses to start Django on a given DB file."""
import os
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def setup(db_path, settings_module="djref.settings"):
    """Configure and start Django on `db_path` with `settings_module`.

    Must run before any model import. The apps live as top-level packages next to
    this project (so their labels and import names are plain `articles`, `orgs`,
    `tasks`, as in the spec), hence HERE goes first on sys.path.
    """
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    os.environ["DJANGO_REF_DB"] = os.path.abspath(db_path)
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()
