"""The shape of one historized value, shared by the writers (services) and readers (queries)."""

from datetime import datetime
from typing import NamedTuple

SAMPLE_TABLE = "historian_sample"
CURRENT_VALUE_TABLE = "historian_current_value"
SAMPLE_DEFAULT_PARTITION = "historian_sample_default"


class SampleRow(NamedTuple):
    time: datetime
    tag_id: int
    value: float | None
    quality: int
