"""Data: the `moderators` group and the default open community every user belongs to."""
from django.db import migrations


def seed(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Community = apps.get_model("registry", "Community")
    Group.objects.get_or_create(name="moderators")
    Community.objects.get_or_create(
        slug="cloudworkstation",
        defaults={"name": "CloudWorkstation", "kind": "open", "is_default": True,
                  "description": "The default open community: every registered user belongs to it."},
    )


def unseed(apps, schema_editor):
    # Keep data on rollback: removing the group would silently drop moderators' rights.
    pass


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(seed, unseed)]
