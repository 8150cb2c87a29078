"""Make ``registry_audit_event`` append-only at the database level (PostgreSQL).

A trigger refuses every UPDATE and DELETE unless the transaction has set
``SET LOCAL registry.audit_purge = 'on'`` — which only the retention jobs (IP truncation, purge
past legal retention) and account erasure (pseudonymising the actor) do, each writing its own audit
event. One narrow case passes without the setting: the foreign key's ON DELETE SET NULL of
``actor_id`` when a user row is deleted, changing nothing else (the record keeps actor_username).
TRUNCATE (a table-owner privilege, which Django's test flush uses) is not guarded by the
trigger: in production the application's database role must not own the table (docs/security.md).

SQLite (the embedded demo fallback) gets no trigger: the guarantee there is only the
application's (no code path updates or deletes events outside the retention service).
"""
from django.db import migrations

# NOTE: the SQL below must contain no percent sign: with DEBUG on Django runs it through the
# DB-API parameter parser, which reads one as a broken placeholder (make run failed that way).
FORWARD = r"""
CREATE OR REPLACE FUNCTION registry_audit_event_guard() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('registry.audit_purge', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        -- the user row is being deleted (FK SET NULL); the event itself is unchanged
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = 'registry_audit_event is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS registry_audit_event_append_only ON registry_audit_event;
CREATE TRIGGER registry_audit_event_append_only
    BEFORE UPDATE OR DELETE ON registry_audit_event
    FOR EACH ROW EXECUTE FUNCTION registry_audit_event_guard();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS registry_audit_event_append_only ON registry_audit_event;
DROP FUNCTION IF EXISTS registry_audit_event_guard();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite demo fallback: no trigger (documented in docs/trust-and-compliance.md)
    schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_publisher_keys_role_arn")]
    operations = [migrations.RunPython(forward, backward)]
