"""Binary PostgreSQL arrays loaded as numpy arrays (historian.sample_types.numpy_array_loaders)."""

from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest
from django.db import connection

from historian.sample_types import PG_EPOCH_US, datetime_to_us, numpy_array_loaders


def _select(statement: str) -> tuple:
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.format = psycopg.pq.Format.BINARY
        numpy_array_loaders(cursor)
        cursor.execute(statement)
        return cursor.fetchone()


def test_arrays_of_each_type_load_as_numpy_arrays_equal_to_what_was_stored(db):
    at = datetime(2026, 3, 1, 12, 0, 0, 250, tzinfo=UTC)
    times, values, qualities, ids, empty = _select(
        "SELECT ARRAY['2026-03-01 12:00:00.000250+00'::timestamptz, '1999-12-31 23:59:59+00'], "
        "ARRAY[1.5, -2.25, 'NaN', 'Infinity']::float8[], ARRAY[192, 24]::int2[], ARRAY[7, 2147483647]::int4[], "
        "'{}'::float8[]"
    )
    assert (times + PG_EPOCH_US).tolist() == [
        datetime_to_us(at),
        datetime_to_us(datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ]
    np.testing.assert_array_equal(values, [1.5, -2.25, np.nan, np.inf])
    assert qualities.tolist() == [192, 24]
    assert qualities.dtype == np.int16
    assert ids.tolist() == [7, 2147483647]
    assert ids.dtype == np.int32
    assert empty.shape == (0,)
    assert empty.dtype == np.float64


def test_an_array_with_a_null_element_is_refused(db):
    with pytest.raises(ValueError, match="without NULL elements"):
        _select("SELECT ARRAY[1.0, NULL]::float8[]")
