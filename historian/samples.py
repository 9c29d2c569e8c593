"""The shape of one historized value, shared by the writers (services) and readers (queries)."""

from datetime import datetime
from typing import NamedTuple

SAMPLE_TABLE = "historian_sample"
CURRENT_VALUE_TABLE = "historian_current_value"
SAMPLE_DEFAULT_PARTITION = "historian_sample_default"
TEXT_SAMPLE_TABLE = "historian_text_sample"


class SampleRow(NamedTuple):
    time: datetime
    tag_id: int
    value: float | None
    quality: int


class TextSampleRow(NamedTuple):
    """A sample of a string tag: the same shape as SampleRow, so the live push and alarms take either."""

    time: datetime
    tag_id: int
    value: str | None
    quality: int


def is_text_row(row: SampleRow | TextSampleRow) -> bool:
    return isinstance(row, TextSampleRow)
