from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('historian', '0004_acquisition_quality_compression'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='site',
            options={'ordering': ['name'], 'permissions': [('view_plant', 'Can view the plant dashboards and live values'), ('use_trend_explorer', 'Can use the trend explorer'), ('export_data', 'Can export history and configuration')]},
        ),
    ]
