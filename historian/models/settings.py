"""Settings of the historian that an administrator changes at run time (one row)."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class HistorianSettings(models.Model):
    """The single row of historian-wide settings; `HistorianSettings.load()` returns it, creating it if needed.

    Retention is applied by `historian.services.retention.retention_apply` (a daily Celery beat task, and right after
    an administrator saves these settings or a tag's retention).
    """

    SINGLETON_PK = 1

    default_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Days of history (samples and their 1-minute / 1-hour rollups) kept for tags without their own "
        "retention. Empty: keep everything.",
    )
    chunk_interval_hours = models.PositiveIntegerField(
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 31)],
        help_text="TimescaleDB only: time span of one chunk of the samples hypertable (applies to new chunks).",
    )
    compress_after_days = models.PositiveIntegerField(
        default=7,
        validators=[MinValueValidator(1)],
        help_text="TimescaleDB only: compress chunks whose data is older than this many days. Late values can "
        "still be written to a compressed chunk, only more slowly.",
    )

    class Meta:
        verbose_name = "historian settings"
        verbose_name_plural = "historian settings"

    def __str__(self) -> str:
        return "Historian settings"

    @classmethod
    def load(cls) -> "HistorianSettings":
        settings, _ = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return settings
