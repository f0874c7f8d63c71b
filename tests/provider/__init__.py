"""A real OAuth2 authorization server (django-oauth-toolkit) for the test suite.

It is a standalone Django project (DJANGO_SETTINGS_MODULE=tests.provider.settings) that the
``oauth_provider`` fixture in ``tests.provider.fixtures`` runs under gunicorn in a subprocess.
"""
