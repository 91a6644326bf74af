"""The sample app `orgs`; models.py is copied verbatim from shared/sample_app (the spec)."""
