"""Listings: docker's table layout, -q, json lines, table TEMPLATE, Go templates."""

from datetime import UTC, datetime, timedelta

import pytest

from swarmlet.cli.format import (
    FormatError,
    ago,
    format_listing,
    human_duration,
    parse_timestamp,
    tabwrite,
)

TABLE = "table {{.ID}}\t{{.Name}}\t{{.Replicas}}"
HEADERS = {"ID": "ID", "Name": "NAME", "Replicas": "REPLICAS"}
ROWS = [
    {"ID": "k3x9", "Name": "web", "Replicas": "3/3"},
    {"ID": "a1b2c3d4e5f6", "Name": "a-much-longer-name", "Replicas": "0/1"},
]


def test_tabwriter_min_width_and_three_space_padding():
    assert tabwrite(["A\tB\tC", "xx\tyyyyyyyyyy\tz"]) == (
        "A         B            C\nxx        yyyyyyyyyy   z\n"
    )


def test_default_table():
    assert format_listing(ROWS, None, TABLE, HEADERS) == (
        "ID             NAME                 REPLICAS\n"
        "k3x9           web                  3/3\n"
        "a1b2c3d4e5f6   a-much-longer-name   0/1\n"
    )


def test_quiet_prints_ids_only():
    assert format_listing(ROWS, None, TABLE, HEADERS, quiet=True) == "k3x9\na1b2c3d4e5f6\n"


def test_json_is_one_object_per_line():
    out = format_listing(ROWS, "json", TABLE, HEADERS)
    assert out.splitlines()[0] == '{"ID":"k3x9","Name":"web","Replicas":"3/3"}'
    assert len(out.splitlines()) == 2


def test_table_template_uses_column_titles():
    out = format_listing(ROWS, "table {{.Name}}\\t{{.Replicas}}", TABLE, HEADERS)
    assert out.splitlines() == [
        "NAME                 REPLICAS",
        "web                  3/3",
        "a-much-longer-name   0/1",
    ]


def test_plain_go_template_has_no_header():
    assert format_listing(ROWS, "{{.Name}}: {{.Replicas}}", TABLE, HEADERS) == (
        "web: 3/3\na-much-longer-name: 0/1\n"
    )


def test_bare_table_keyword_is_the_default_table():
    assert format_listing(ROWS, "table", TABLE, HEADERS) == format_listing(
        ROWS, None, TABLE, HEADERS
    )


def test_empty_listing_prints_the_header():
    assert format_listing([], None, TABLE, HEADERS) == "ID        NAME      REPLICAS\n"


def test_bad_template():
    with pytest.raises(FormatError) as err:
        format_listing(ROWS, "{{.Name", TABLE, HEADERS)
    assert "template parsing error" in str(err.value)


def test_unknown_header_field_is_upper_cased():
    out = format_listing(ROWS, "table {{.Name}}\\t{{.Other}}", TABLE, HEADERS)
    assert out.splitlines()[0].split() == ["NAME", "OTHER"]


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.2, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (61, "About a minute"),
        (5 * 60 + 3, "5 minutes"),
        (3600, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_ago_with_nanosecond_timestamp():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    stamp = (now - timedelta(minutes=5, seconds=1)).strftime("%Y-%m-%dT%H:%M:%S") + ".123456789Z"
    assert ago(stamp, now) == "5 minutes ago"
    assert ago("0001-01-01T00:00:00Z", now) == ""
    assert parse_timestamp("garbage") is None


def test_port_text_like_docker():
    from swarmlet.cli.tasks import port_text

    ports = [
        {"Protocol": "tcp", "TargetPort": 81, "PublishedPort": 8001, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8000, "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 9000, "PublishedPort": 9000, "PublishMode": "host"},
        {"Protocol": "tcp", "TargetPort": 22, "PublishedPort": 0},
    ]
    assert port_text(ports, ingress_only=True) == "*:8000-8001->80-81/tcp, *:53->53/udp"
    assert port_text(ports) == "*:8000-8001->80-81/tcp, *:9000->9000/tcp, *:53->53/udp"
    assert port_text(None) == ""
