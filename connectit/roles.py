"""The roles a user can have; each is a group created by connectit/migrations/0002_roles.py."""

from __future__ import annotations

VIEWER, OPERATOR, ADMINISTRATOR = "Viewer", "Operator", "Administrator"
ROLES = (VIEWER, OPERATOR, ADMINISTRATOR)
DESCRIPTIONS = {
    VIEWER: "Sees authorizations, definitions, token status and runs. Never a secret.",
    OPERATOR: "A viewer who may also Get Token, Refresh now, Run definitions and cancel runs.",
    ADMINISTRATOR: "An operator who may also create, change and delete records, attach "
    "authorizations to definitions, manage users, read the audit trail and manage alerts.",
}
