"""The simulator's command line: the Sparkplug B options are checked only when they are used."""

import pytest

from demo.simulator.__main__ import parse_args


def test_without_a_broker_there_is_no_sparkplug_edge_node_whatever_the_line():
    assert parse_args(["--lines", "1"]).sparkplug is None
    assert parse_args(["--lines", "1", "--sparkplug-broker", ""]).sparkplug is None


def test_a_broker_is_host_and_port_and_its_line_one_of_the_plants():
    args = parse_args(["--sparkplug-broker", "127.0.0.1:1883", "--sparkplug-line", "3"])
    assert (args.sparkplug, args.sparkplug_line) == (("127.0.0.1", 1883), 3)
    for wrong in (["--sparkplug-broker", "127.0.0.1"], ["--sparkplug-broker", "mqtt:1883", "--sparkplug-line", "4"]):
        with pytest.raises(SystemExit):
            parse_args(wrong)
