"""Exception reporting: a new value is historized only when it moved by at least the tag's deadband.

The last stored value per tag is remembered per worker process. A second worker polling the same device starts
without that memory and stores its first value: more rows, never a stored series outside the deadband.
"""

from historian.quality import quality_is_good


class DeadbandFilter:
    def __init__(self) -> None:
        self._last: dict[int, tuple[float | None, int]] = {}

    def admit(self, *, tag_id: int, value: float | None, quality: int, deadband: float) -> bool:
        last = self._last.get(tag_id)
        if last is not None and last[1] == quality and quality_is_good(quality):
            last_value = last[0]
            if value is not None and last_value is not None and abs(value - last_value) < deadband:
                return False
        self._last[tag_id] = (value, quality)
        return True

    def forget(self, tag_id: int) -> None:
        self._last.pop(tag_id, None)
