"""The sample app `tasks`; models.py is copied verbatim from shared/sample_app (the spec)."""
