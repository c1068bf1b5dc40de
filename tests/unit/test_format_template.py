"""The Go text/template subset: what `--format` users write, and clear errors for the rest."""

import pytest

from swarmlet.cli.format import FormatError, format_inspect, zero_value
from swarmlet.cli.gotemplate import TemplateError, parse

DATA = {
    "ID": "abc",
    "Spec": {
        "Name": "web",
        "Labels": {"b": "2", "a": "1"},
        "Mode": {"Replicated": {"Replicas": 3}},
    },
    "Names": ["x", "y"],
    "On": True,
    "Off": False,
    "Empty": "",
    "Nil": None,
}


@pytest.mark.parametrize(
    "template, expected",
    [
        ("{{.ID}}", "abc"),
        ("{{.Spec.Name}}", "web"),
        ("{{.Spec.Mode.Replicated.Replicas}}", "3"),
        ("{{json .Spec.Labels}}", '{"a":"1","b":"2"}'),
        ("{{json .Spec.Mode}}", '{"Replicated":{"Replicas":3}}'),
        ("{{json .Names}}", '["x","y"]'),
        ("{{.Spec.Labels}}", "map[a:1 b:2]"),
        ("{{.Names}}", "[x y]"),
        ("{{.On}} {{.Off}}", "true false"),
        ("{{.Nil}}", "<nil>"),
        ("{{if .On}}yes{{end}}", "yes"),
        ("{{if .Off}}yes{{else}}no{{end}}", "no"),
        ("{{if .Off}}1{{else if .Empty}}2{{else if .On}}3{{else}}4{{end}}", "3"),
        ("{{if not .Off}}n{{end}}", "n"),
        ("{{if and .On .ID}}both{{end}}", "both"),
        ("{{if or .Off .Empty}}x{{else}}neither{{end}}", "neither"),
        ('{{if eq .Spec.Name "web"}}match{{end}}', "match"),
        ("{{range .Names}}<{{.}}>{{end}}", "<x><y>"),
        ("{{range $i, $n := .Names}}{{$i}}={{$n}} {{end}}", "0=x 1=y "),
        ("{{range $k, $v := .Spec.Labels}}{{$k}}:{{$v}};{{end}}", "a:1;b:2;"),
        ("{{range .Spec.Labels}}{{.}}{{end}}", "12"),
        ("{{range .Missing}}x{{else}}none{{end}}", "none"),
        ("{{range .Names}}{{$.ID}}{{end}}", "abcabc"),
        ("{{with .Spec}}{{.Name}}{{end}}", "web"),
        ('{{index .Spec.Labels "a"}}', "1"),
        ("{{index .Names 1}}", "y"),
        ('{{join .Names ", "}}', "x, y"),
        ('{{upper .Spec.Name}} {{lower "AB"}}', "WEB ab"),
        ("{{.Spec.Name | upper}}", "WEB"),
        ('{{.Spec.Name | printf "%s!" | upper}}', "WEB!"),
        ('{{printf "%s has %d" .Spec.Name 3}}', "web has 3"),
        ('{{printf "%-5s|" .ID}}', "abc  |"),
        ("{{println .ID}}", "abc\n"),
        ("{{len .Names}}", "2"),
        ('{{split "a,b" ","}}', "[a b]"),
        ("{{(index .Names 0) | upper}}", "X"),
        ("a  {{- .ID -}}  b", "aabcb"),
        ("a\n{{- .ID}}", "aabc"),
        ("{{/* a comment */}}x", "x"),
        ('{{"quoted"}} {{`raw`}}', "quoted raw"),
        ("{{$n := .Spec.Name}}{{$n}}", "web"),
    ],
)
def test_template(template, expected):
    assert parse(template).execute(DATA) == expected


@pytest.mark.parametrize(
    "template, fragment",
    [
        ("{{.ID", "unclosed action"),
        ("{{nosuch .ID}}", 'function "nosuch" not defined'),
        ("{{if .ID}}x", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ('{{template "x"}}', "not supported"),
        ('{{define "x"}}{{end}}', "not supported"),
        ("{{.ID | .Spec}}", "non executable command"),
    ],
)
def test_parse_errors(template, fragment):
    with pytest.raises(TemplateError) as err:
        parse(template)
    assert fragment in str(err.value)
    assert str(err.value).startswith("template: ")


def test_execution_error_on_field_of_non_object():
    with pytest.raises(TemplateError):
        parse("{{.ID.Foo}}").execute(DATA)


def test_missing_field_prints_no_value_without_a_zero():
    assert parse("{{.Nope}}").execute(DATA) == "<no value>"


def test_inspect_zero_values():
    service = {"Spec": {"TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}}
    out = format_inspect(
        [service],
        "{{.Spec.TaskTemplate.ContainerSpec.ReadOnly}} {{.Spec.Labels}} "
        "{{.Spec.TaskTemplate.ContainerSpec.Env}} {{.Spec.Mode.Replicated.Replicas}}",
    )
    assert out == "false map[] [] 0\n"


def test_inspect_missing_bool_is_falsy_in_if():
    assert format_inspect([{}], "{{if .Attachable}}y{{else}}n{{end}}") == "n\n"


def test_inspect_default_is_indented_json_array():
    assert format_inspect([{"ID": "a"}], None) == '[\n    {\n        "ID": "a"\n    }\n]\n'


def test_inspect_escapes_and_json():
    assert format_inspect([{"A": 1}], "{{.A}}\\t{{json .}}") == '1\t{"A":1}\n'


def test_inspect_bad_template_is_a_parsing_error():
    with pytest.raises(FormatError) as err:
        format_inspect([{}], "{{.A")
    assert str(err.value).startswith("template parsing error: template: ")


def test_zero_value_table():
    assert zero_value("ReadOnly") is False
    assert zero_value("Labels") == {}
    assert zero_value("Replicas") == 0
