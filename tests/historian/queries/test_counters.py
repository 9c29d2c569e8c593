"""Counter increases between arbitrary edges: the aggregates' rule (rollover, reset, bad samples skipped, rises
shared by time), at edges no regular grid lines up with; the same answer as aggregate_values where one does."""

from datetime import timedelta

import pytest

from historian.quality import Quality
from historian.queries.aggregates import aggregate_values
from historian.queries.counters import counter_increases
from historian.queries.errors import HistoryQueryError

from .conftest import T0, write


def s(seconds: float):
    return T0 + timedelta(seconds=seconds)


def test_increases_between_uneven_edges_with_a_rollover_a_reset_and_a_bad_sample(make_tag):
    tag = make_tag(data_type="uint16", counter_rollover=65536)
    write(
        tag,
        [
            (s(0), 65530.0),
            (s(10), 5.0),  # a rollover: +11
            (s(15), 50.0, Quality.BAD),  # skipped: a counter keeps counting through a comm failure
            (s(20), 105.0),  # +100
            (s(30), 3.0),  # a reset: +3
            (s(40), 10.0),  # +7
        ],
    )
    got = counter_increases(tag_ids=[tag.pk], edges=[s(0), s(7), s(25), s(40), s(100)])[tag.pk]
    # 0-7: 7/10 of the +11; 7-25: the rest (3.3) + 100 + half of the +3; 25-40: the other half + 7; after: nothing.
    assert list(got) == pytest.approx([7.7, 3.3 + 100 + 1.5, 1.5 + 7, 0.0])


def test_where_a_grid_lines_up_it_agrees_with_the_aggregate(make_tag):
    tag = make_tag(data_type="uint16", counter_rollover=65536)
    write(tag, [(s(k * 7), float((k * 9000) % 65536)) for k in range(30)])
    edges = [s(k * 20) for k in range(11)]
    mine = counter_increases(tag_ids=[tag.pk], edges=edges)[tag.pk]
    theirs = aggregate_values(tag_ids=[tag.pk], start=edges[0], end=edges[-1], interval=timedelta(seconds=20))
    assert list(mine) == pytest.approx([row.counter_increase or 0.0 for row in theirs.series[tag.pk]])


def test_edges_out_of_order_are_refused(make_tag):
    tag = make_tag(data_type="uint16")
    with pytest.raises(HistoryQueryError):
        counter_increases(tag_ids=[tag.pk], edges=[s(10), s(5), s(20)])
