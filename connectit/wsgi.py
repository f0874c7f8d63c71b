import os

from django.core.wsgi import get_wsgi_application

from connectit import install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
# A server opens an existing install; `manage.py migrate` (make run) sets one up.
install.require_existing()
application = get_wsgi_application()
