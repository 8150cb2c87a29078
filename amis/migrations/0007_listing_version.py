from django.db import migrations, models

# The row's listing version (``AMI.listing_version``): the database bumps it so that no code path
# — a service, an admin action, a bulk ``update()``, a trigger — can change what a listing shows
# without it. Every column counts but the counters a listing reads live (download_count; and
# best_score, which moves with downloads) and the version itself. New versions come from a
# sequence, so a number is never used twice — not even one a rolled-back transaction took (its
# representation may have been cached meanwhile). An application write of the version is
# overruled: a stale in-memory value saved back must not bring an older version back.
FORWARD = r"""
CREATE SEQUENCE IF NOT EXISTS ami_listing_version_seq;

CREATE OR REPLACE FUNCTION ami_listing_version_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(OLD) - 'download_count' - 'best_score' - 'listing_version')
       IS DISTINCT FROM (to_jsonb(NEW) - 'download_count' - 'best_score' - 'listing_version') THEN
        NEW.listing_version := nextval('ami_listing_version_seq');
    ELSIF NEW.listing_version IS NULL OR NEW.listing_version < OLD.listing_version THEN
        -- Only a trigger's fresh number (always above every earlier one) may raise it.
        NEW.listing_version := OLD.listing_version;
    END IF;
    RETURN NEW;
END;
$$;
-- Named to run after the other BEFORE UPDATE triggers (alphabetical order), so that it sees the
-- search document they compute.
DROP TRIGGER IF EXISTS ami_version_listing ON ami_registry;
CREATE TRIGGER ami_version_listing BEFORE UPDATE ON ami_registry
    FOR EACH ROW EXECUTE FUNCTION ami_listing_version_trigger();

-- A copy shown in listings (added, removed, or one of the columns they show changed): its AMI's
-- representation changes. Template and user renames reach the AMI rows through their search
-- documents (amis/migrations/0005), which this trigger's AMI-side counterpart sees.
CREATE OR REPLACE FUNCTION ami_regions_listing_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE ami_registry SET listing_version = nextval('ami_listing_version_seq') WHERE id = OLD.ami_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.ami_id IS DISTINCT FROM OLD.ami_id) THEN
        UPDATE ami_registry SET listing_version = nextval('ami_listing_version_seq') WHERE id = NEW.ami_id;
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS ami_regions_listing_insert_delete ON ami_regions;
CREATE TRIGGER ami_regions_listing_insert_delete AFTER INSERT OR DELETE ON ami_regions
    FOR EACH ROW EXECUTE FUNCTION ami_regions_listing_changed();
DROP TRIGGER IF EXISTS ami_regions_listing_update ON ami_regions;
CREATE TRIGGER ami_regions_listing_update AFTER UPDATE ON ami_regions
    FOR EACH ROW WHEN ((OLD.ami_id, OLD.region, OLD.image_id, OLD.state, OLD.is_source, OLD.copied_from,
                        OLD.last_tested)
                       IS DISTINCT FROM
                       (NEW.ami_id, NEW.region, NEW.image_id, NEW.state, NEW.is_source, NEW.copied_from,
                        NEW.last_tested))
    EXECUTE FUNCTION ami_regions_listing_changed();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS ami_regions_listing_update ON ami_regions;
DROP TRIGGER IF EXISTS ami_regions_listing_insert_delete ON ami_regions;
DROP FUNCTION IF EXISTS ami_regions_listing_changed();
DROP TRIGGER IF EXISTS ami_version_listing ON ami_registry;
DROP FUNCTION IF EXISTS ami_listing_version_trigger();
DROP SEQUENCE IF EXISTS ami_listing_version_seq;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('amis', '0006_snapshot_operations'),
    ]

    operations = [
        migrations.AddField(
            model_name='ami',
            name='listing_version',
            field=models.BigIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.RunPython(forward, backward),
    ]
