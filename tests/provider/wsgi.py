"""WSGI entry point gunicorn serves: ``tests.provider.wsgi:application``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.provider.settings"

application = get_wsgi_application()
