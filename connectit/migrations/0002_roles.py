"""The three roles, as groups: Viewer, Operator, Administrator (README, "Security model")."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = [
    ("oauth2_auth", "view_authorization"),
    ("definitions", "view_definition"),
    ("definitions", "view_run"),
]
OPERATOR = [
    *VIEWER,
    ("oauth2_auth", "operate_authorization"),
    ("definitions", "run_definition"),
]
ADMINISTRATOR = [
    *OPERATOR,
    ("oauth2_auth", "add_authorization"),
    ("oauth2_auth", "change_authorization"),
    ("oauth2_auth", "delete_authorization"),
    ("oauth2_auth", "use_authorization"),
    ("definitions", "add_definition"),
    ("definitions", "change_definition"),
    ("definitions", "delete_definition"),
    ("auth", "view_user"),
    ("auth", "add_user"),
    ("auth", "change_user"),
    ("connectit", "view_auditentry"),
]
ROLES = {"Viewer": VIEWER, "Operator": OPERATOR, "Administrator": ADMINISTRATOR}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = [
            Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in wanted
        ]
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connectit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("oauth2_auth", "0004_token_hosts_and_permissions"),
        ("definitions", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
