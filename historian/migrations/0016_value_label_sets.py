"""Value label sets replace the tag's own JSON labels: each distinct JSON mapping becomes a set the tags share."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


def json_labels_to_sets(apps, schema_editor):
    Tag = apps.get_model("historian", "Tag")
    ValueLabelSet = apps.get_model("historian", "ValueLabelSet")
    ValueLabel = apps.get_model("historian", "ValueLabel")
    sets: dict[tuple, object] = {}
    names: set[str] = set()
    for tag in Tag.objects.exclude(value_labels={}).order_by("pk"):
        labels = tag.value_labels if isinstance(tag.value_labels, dict) else {}
        entries = {}
        for key, label in labels.items():
            try:
                entries[int(key)] = str(label)[:100]
            except (TypeError, ValueError):
                continue  # a key that is no whole number never matched a value
        if not entries:
            continue
        key = tuple(sorted(entries.items()))
        if key not in sets:
            name, n = tag.name[:90], 2
            while name in names:
                name, n = f"{tag.name[:90]} {n}", n + 1
            names.add(name)
            label_set = ValueLabelSet.objects.create(name=name)
            ValueLabel.objects.bulk_create(
                ValueLabel(set=label_set, value=value, label=label) for value, label in entries.items()
            )
            sets[key] = label_set
        tag.value_label_set = sets[key]
        tag.save(update_fields=["value_label_set"])


def sets_to_json_labels(apps, schema_editor):
    Tag = apps.get_model("historian", "Tag")
    for tag in Tag.objects.exclude(value_label_set=None).select_related("value_label_set"):
        tag.value_labels = {str(e.value): e.label for e in tag.value_label_set.entries.all()}
        tag.save(update_fields=["value_labels"])


class Migration(migrations.Migration):
    dependencies = [("historian", "0015_write_policy")]

    operations = [
        migrations.CreateModel(
            name="ValueLabelSet",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "name",
                    models.CharField(
                        help_text="Named in the tag CSV's value_labels column", max_length=100, unique=True
                    ),
                ),
                ("description", models.TextField(blank=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="ValueLabel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(help_text="The tag's value (booleans: 0 and 1)")),
                ("label", models.CharField(max_length=100)),
                (
                    "colour",
                    models.CharField(
                        blank=True,
                        help_text="#rrggbb",
                        max_length=7,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^#[0-9a-fA-F]{6}\\Z", "A colour is written #rrggbb, e.g. #2e7d32."
                            )
                        ],
                    ),
                ),
                (
                    "set",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="entries",
                        to="historian.valuelabelset",
                    ),
                ),
            ],
            options={
                "ordering": ["set", "value"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("set", "value"),
                        name="value_label_unique_value",
                        violation_error_message="This set already has a label for this value.",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="tag",
            name="value_label_set",
            field=models.ForeignKey(
                null=True,
                blank=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tags",
                to="historian.valuelabelset",
            ),
        ),
        migrations.RunPython(json_labels_to_sets, sets_to_json_labels),
        migrations.RemoveField(model_name="tag", name="value_labels"),
        migrations.RenameField(model_name="tag", old_name="value_label_set", new_name="value_labels"),
        migrations.AlterField(
            model_name="tag",
            name="value_labels",
            field=models.ForeignKey(
                blank=True,
                help_text="Names (and colours) for a discrete tag's values, e.g. 0 Idle, 1 Running",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tags",
                to="historian.valuelabelset",
            ),
        ),
    ]
