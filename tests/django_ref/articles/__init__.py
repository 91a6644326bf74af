"""The sample app `articles`; models.py is the sample app's models as the course specifies them."""
