"""Sparkplug B topics and protobuf payloads: what edge nodes send decodes to the values they meant."""

from datetime import UTC, datetime

import pytest

from ingest.protocols.sparkplug import sparkplug_b_pb2 as pb
from ingest.protocols.sparkplug.codec import (
    REBIRTH,
    DataType,
    MetricOut,
    SparkplugError,
    Topic,
    payload_decode,
    payload_encode,
    rebirth_request,
    topic_parse,
)


def test_node_and_device_topics_parse_into_their_ids():
    assert topic_parse("spBv1.0/Plant1/NDATA/Gateway1") == Topic("Plant1", "NDATA", "Gateway1")
    assert topic_parse("spBv1.0/Plant1/DBIRTH/Gateway1/CNC 101") == Topic("Plant1", "DBIRTH", "Gateway1", "CNC 101")
    assert str(Topic("G", "NCMD", "E")) == "spBv1.0/G/NCMD/E"


@pytest.mark.parametrize(
    "topic",
    ["spBv1.0/STATE/host1", "spAv1.0/G/NDATA/E", "spBv1.0/G/DDATA/E", "spBv1.0/G/NDATA/E/D", "spBv1.0/G/XDATA/E"],
)
def test_topics_that_are_not_edge_node_messages_are_refused(topic):
    with pytest.raises(SparkplugError):
        topic_parse(topic)


def test_metrics_round_trip_with_alias_timestamp_and_flags():
    data = payload_encode(
        metrics=[
            MetricOut("Speed", 12.5, DataType.DOUBLE, alias=3, timestamp_ms=1_700_000_000_123),
            MetricOut("", 7.25, DataType.FLOAT, alias=4, is_historical=True),
            MetricOut("Running", True, DataType.BOOLEAN),
            MetricOut("Missing", None, DataType.DOUBLE),
        ],
        seq=17,
        timestamp_ms=1_700_000_000_000,
    )

    payload = payload_decode(data)

    assert payload.seq == 17
    assert payload.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    speed, by_alias, running, missing = payload.metrics
    assert (speed.name, speed.alias, speed.value) == ("Speed", 3, 12.5)
    assert speed.timestamp == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert (by_alias.name, by_alias.alias, by_alias.value, by_alias.is_historical) == ("", 4, 7.25, True)
    assert (running.value, running.is_historical) == (True, False)
    assert (missing.value, missing.is_null) == (None, True)


@pytest.mark.parametrize(
    ("datatype", "value"),
    [(DataType.INT8, -5), (DataType.INT16, -300), (DataType.INT32, -70000), (DataType.INT64, -(2**40))],
)
def test_signed_integers_travel_as_twos_complement_and_decode_negative(datatype, value):
    data = payload_encode(metrics=[MetricOut("n", value, datatype)], seq=0)
    raw = pb.Payload.FromString(data).metrics[0]
    assert (raw.int_value if datatype != DataType.INT64 else raw.long_value) > 0  # unsigned on the wire

    assert payload_decode(data).metrics[0].value == value


def test_unsigned_integers_keep_their_full_range():
    data = payload_encode(metrics=[MetricOut("n", 2**32 - 1, DataType.UINT32)], seq=0)
    assert payload_decode(data).metrics[0].value == 2**32 - 1


def test_the_quality_property_is_read_when_the_edge_node_sends_one():
    message = pb.Payload(seq=1)
    metric = message.metrics.add(name="T", datatype=DataType.DOUBLE, double_value=1.0)
    metric.properties.keys.append("Quality")
    metric.properties.values.add(type=DataType.INT32, int_value=0x18)

    assert payload_decode(message.SerializeToString()).metrics[0].quality == 0x18


def test_a_payload_that_is_not_protobuf_is_refused_with_a_reason():
    with pytest.raises(SparkplugError, match="not a Sparkplug B payload"):
        payload_decode(b"\xff\xff\xff")


def test_the_rebirth_request_is_the_node_control_metric_set_true():
    (metric,) = payload_decode(rebirth_request()).metrics
    assert (metric.name, metric.datatype, metric.value) == (REBIRTH, DataType.BOOLEAN, True)


def test_properties_and_the_transient_flag_round_trip():
    data = payload_encode(
        metrics=[
            MetricOut("T", None, DataType.DOUBLE, alias=7, is_transient=True, properties=(("engUnit", "°C"),)),
            MetricOut("", 1.5, DataType.DOUBLE, alias=7, properties=(("Quality", 0x40),)),
        ],
        seq=3,
    )
    first, second = payload_decode(data).metrics
    assert first.is_null
    assert first.is_transient
    assert first.properties == {"engUnit": "°C"}
    assert first.quality is None
    assert second.properties == {"Quality": 0x40}
    assert second.quality == 0x40
