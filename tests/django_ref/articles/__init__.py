"""The sample app `articles`; models.py is copied verbatim from shared/sample_app (the spec)."""
