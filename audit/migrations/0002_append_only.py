"""The audit trail is append-only, enforced by the database: UPDATE and DELETE are rejected on both of its tables.

One update is let through: setting `actor_id` to NULL and nothing else, which is what deleting a user does (the
events keep the user name). TRUNCATE is not prevented (the test suite empties tables that way).
"""

from django.db import migrations

TABLES = ["audit_auditevent", "auditlog_logentry"]

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION audit_append_only();"),
        *[
            migrations.RunSQL(TRIGGER.format(table=table), f"DROP TRIGGER {table}_append_only ON {table};")
            for table in TABLES
        ],
    ]
