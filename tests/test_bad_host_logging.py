"""A request with a Host header not in ALLOWED_HOSTS is one WARNING line in the log.

Django logs it at ERROR with the whole traceback: scanners send such requests all day, and each
filled the log with a stack that says nothing more than the one line does.
"""

from __future__ import annotations

import logging

from django.conf import settings


def test_a_bad_host_header_is_one_warning_line(db, client, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        response = client.get("/accounts/login/", HTTP_HOST="scanner.example.net")
    assert response.status_code == 400
    [record] = [record for record in caplog.records if record.name == "django.security.DisallowedHost"]
    assert record.levelno == logging.WARNING
    assert record.levelname == "WARNING"
    assert record.exc_info is None
    assert not record.exc_text
    line = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]).format(record)
    assert "\n" not in line
    assert "Traceback" not in line
    assert "Invalid HTTP_HOST header: 'scanner.example.net'" in line
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_other_security_errors_keep_their_level(caplog) -> None:
    # Only the bad Host is demoted: the filter sits on that one logger.
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("django.security.SuspiciousSession").error("tampered session")
    [record] = caplog.records
    assert record.levelno == logging.ERROR


def test_a_good_host_logs_nothing_of_the_kind(db, client, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        client.get("/accounts/login/", HTTP_HOST="localhost")
    assert [r for r in caplog.records if r.name.startswith("django.security")] == []
