#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from connectit import install

    install.set_mode_for_command(sys.argv)
    try:
        settings.INSTALLED_APPS  # noqa: B018 (loads the settings, which check the install)
    except ImproperlyConfigured as exc:
        # One line that says what is wrong, not a traceback: this is read in a shell.
        sys.exit(f"Error: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
