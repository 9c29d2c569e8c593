"""JSON logs: one parseable object per line, with the traceback when there is one."""

import json
import logging

from operations.logging import JsonFormatter


def test_a_record_is_one_json_object_with_its_exception():
    try:
        raise ValueError("bad register")
    except ValueError:
        record = logging.getLogger("ingest").makeRecord(
            "ingest", logging.ERROR, __file__, 1, "poll of %s failed", ("PLC 1",), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()

    line = JsonFormatter().format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "ingest", "poll of PLC 1 failed")
    assert "ValueError: bad register" in entry["exception"]
    assert entry["time"].endswith("+00:00")
