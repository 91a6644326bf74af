"""Reference Django project for the differential tests against the Rust sandbox.

Everything in tests/django_ref runs Django in *subprocesses* (see boot.setup), so the
pytest process itself never configures Django settings and each script picks its own DB.
"""
