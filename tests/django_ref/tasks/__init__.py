"""The sample app `tasks`; models.py is the sample app's models as the course specifies them."""
