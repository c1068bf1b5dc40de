"""A small Go text/template engine: the subset `docker ... --format` users write.

Supported: fields `.A.B`, `$`, `$var.A`, variables (`$x := ...`, `range $k, $v := ...`),
`if`/`else if`/`else`/`end`, `range` (with `else`), `with`, pipelines `|`, parentheses,
string/number/bool literals, comments, `{{-`/`-}}` trimming, and the functions docker offers
(json, join, split, upper, lower, title, pad, truncate) plus Go's builtins (index, len, print,
printf, println, and, or, not, eq, ne, lt, le, gt, ge). Values print as Go prints them
(`map[k:v]`, `[a b]`, `<no value>`, `true`).
"""

from __future__ import annotations

import json
import re


class TemplateError(Exception):
    """A template that does not parse or cannot execute; the message reads like Go's."""


class Missing:
    """A field that is absent: prints as Go's zero value for that field, if known."""

    def __init__(self, zero):
        self.zero = zero


NO_VALUE = "<no value>"


# ---- values as Go prints them -------------------------------------------------------------


def go_str(value) -> str:
    if isinstance(value, Missing):
        value = value.zero
        if value is NO_VALUE:
            return NO_VALUE
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e21:
            return str(int(value)) if abs(value) < 1e21 and value == int(value) else repr(value)
        return repr(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def truthy(value) -> bool:
    if isinstance(value, Missing):
        value = value.zero
        if value is NO_VALUE:
            return False
    if value is None or value is False:
        return False
    if isinstance(value, (int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def _plain(value):
    if isinstance(value, Missing):
        return None if value.zero is NO_VALUE else value.zero
    return value


# ---- functions ----------------------------------------------------------------------------


def _go_json_order(value):
    """Go marshals maps with sorted keys and structs in field order; API objects are structs
    (capitalised field names), anything else (labels, options) is a map."""
    if isinstance(value, dict):
        items = value.items()
        if not all(isinstance(k, str) and k[:1].isupper() for k in value):
            items = sorted(items, key=lambda kv: str(kv[0]))
        return {k: _go_json_order(v) for k, v in items}
    if isinstance(value, list):
        return [_go_json_order(v) for v in value]
    return value


def _json(value) -> str:
    return json.dumps(_go_json_order(_plain(value)), separators=(",", ":"), ensure_ascii=False)


def _index(item, *keys):
    item = _plain(item)
    for key in keys:
        key = _plain(key)
        if isinstance(item, dict):
            item = item.get(key)
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise TemplateError(f"error calling index: index out of range: {key}")
            item = item[key]
        elif item is None:
            raise TemplateError("error calling index: index of untyped nil")
        else:
            raise TemplateError(
                f"error calling index: can't index item of type {type(item).__name__}"
            )
    return item


def _printf(fmt, *args):
    args = [_plain(a) for a in args]
    out, i = [], 0
    pos = 0
    for m in re.finditer(r"%([-+ #0]*\d*(?:\.\d+)?)([vsdqtfxXeEgGc%])", fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if i >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[i]
        i += 1
        if verb in "vs":
            out.append(("%" + flags + "s") % go_str(arg))
        elif verb == "q":
            out.append(json.dumps(go_str(arg)))
        elif verb == "t":
            out.append(go_str(bool(arg)) if isinstance(arg, bool) else f"%!t({go_str(arg)})")
        elif verb == "c":
            out.append(chr(arg))
        else:
            try:
                out.append(("%" + flags + verb) % arg)
            except TypeError:
                out.append(f"%!{verb}({go_str(arg)})")
    out.append(fmt[pos:])
    return "".join(out)


def _cmp(op):
    def compare(a, *bs):
        a = _plain(a)
        if op == "eq":
            return any(a == _plain(b) for b in bs)
        b = _plain(bs[0])
        try:
            return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
        except TypeError:
            raise TemplateError(f"error calling {op}: incompatible types for comparison") from None

    return compare


def _and(*args):
    for a in args:
        if not truthy(a):
            return a
    return args[-1]


def _or(*args):
    for a in args:
        if truthy(a):
            return a
    return args[-1]


def _truncate(s, n):
    s = go_str(s)
    return s[:n]


FUNCS = {
    "json": _json,
    "join": lambda items, sep: sep.join(go_str(i) for i in (_plain(items) or [])),
    "split": lambda s, sep: go_str(s).split(sep),
    "upper": lambda s: go_str(s).upper(),
    "lower": lambda s: go_str(s).lower(),
    "title": lambda s: go_str(s).title(),
    "pad": lambda s, left, right: " " * left + go_str(s) + " " * right,
    "truncate": _truncate,
    "index": _index,
    "len": lambda v: len(_plain(v) or []),
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "printf": _printf,
    "and": _and,
    "or": _or,
    "not": lambda a: not truthy(a),
    **{op: _cmp(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
}


# ---- lexer ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|(),])
    """,
    re.X,
)


def _lex_action(src: str, line: int) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise TemplateError(f"template: :{line}: unexpected {src[pos]!r} in command")
        kind = m.lastgroup
        text = m.group()
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "var" and pos < len(src) and src[pos] == ".":
            fm = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+").match(src, pos)
            if fm:
                text += fm.group()
                pos = fm.end()
        if kind == "punct" and text == ")" and pos < len(src) and src[pos] == ".":
            tokens.append(("punct", ")"))
            fm = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+").match(src, pos)
            if fm:
                tokens.append(("chain", fm.group()))
                pos = fm.end()
            continue
        tokens.append((kind, text))
    return tokens


# ---- parser ---------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.items = self._split(text)
        self.pos = 0

    def _split(self, text):
        """Text and action items, with `{{-`/`-}}` trimming applied."""
        items = []
        pos = 0
        while True:
            start = text.find("{{", pos)
            if start < 0:
                items.append(("text", text[pos:], 0))
                break
            chunk = text[pos:start]
            inner = start + 2
            line = text.count("\n", 0, start) + 1
            if text[inner : inner + 1] == "-" and text[inner + 1 : inner + 2] in (
                " ",
                "\t",
                "\n",
                "\r",
            ):
                chunk = chunk.rstrip(" \t\r\n")
                inner += 1
            items.append(("text", chunk, line))
            if text[inner:].lstrip().startswith("/*"):
                end = text.find("*/", inner)
                close = text.find("}}", end) if end >= 0 else -1
                if close < 0:
                    raise TemplateError(f"template: :{line}: unclosed comment")
                body = None
                trim_next = text[end + 2 : close].strip() == "-"
            else:
                close = self._find_close(text, inner, line)
                body = text[inner:close]
                trim_next = len(body) >= 2 and body[-1] == "-" and body[-2] in " \t\r\n"
                if trim_next:
                    body = body[:-1]
                items.append(("action", body, line))
            pos = close + 2
            if trim_next:
                while pos < len(text) and text[pos] in " \t\r\n":
                    pos += 1
        return [it for it in items if not (it[0] == "text" and it[1] == "")]

    def _find_close(self, text, pos, line):
        quote = None
        i = pos
        while i < len(text):
            c = text[i]
            if quote:
                if c == "\\" and quote == '"':
                    i += 2
                    continue
                if c == quote:
                    quote = None
            elif c in "\"`'":
                quote = c
            elif text.startswith("}}", i):
                return i
            i += 1
        raise TemplateError(f"template: :{line}: unclosed action")

    def parse(self):
        nodes, stop = self._list()
        if stop is not None:
            raise TemplateError(f"template: :{stop[1]}: unexpected {{{{{stop[0]}}}}}")
        return nodes

    def _list(self):
        """Nodes until `else`/`end` (returned as the stop keyword) or the end of input."""
        nodes = []
        while self.pos < len(self.items):
            kind, body, line = self.items[self.pos]
            self.pos += 1
            if kind == "text":
                nodes.append(("text", body))
                continue
            tokens = _lex_action(body, line)
            if not tokens:
                raise TemplateError(f"template: :{line}: missing value for command")
            head = tokens[0]
            if head == ("ident", "end"):
                return nodes, ("end", line)
            if head == ("ident", "else"):
                return nodes, ("else", line, tokens[1:])
            if head[0] == "ident" and head[1] in ("if", "range", "with"):
                nodes.append(self._control(head[1], tokens[1:], line))
                continue
            if head[0] == "ident" and head[1] in (
                "define",
                "template",
                "block",
                "break",
                "continue",
            ):
                raise TemplateError(f"template: :{line}: {{{{{head[1]}}}}} is not supported")
            nodes.append(("action", self._pipeline(tokens, line)))
        return nodes, None

    def _control(self, keyword, tokens, line):
        if not tokens:
            raise TemplateError(f"template: :{line}: missing value for {keyword}")
        pipe = self._pipeline(tokens, line)
        body, stop = self._list()
        if stop is None:
            raise TemplateError(f"template: :{line}: unexpected EOF")
        else_body = []
        if stop[0] == "else":
            rest = stop[2]
            if rest and rest[0] == ("ident", "if") and keyword == "if":
                # `else if` chains into a nested if that shares this `end`.
                else_body = [self._control("if", rest[1:], stop[1])]
            elif rest and rest[0] == ("ident", "with") and keyword == "with":
                else_body = [self._control("with", rest[1:], stop[1])]
            elif rest:
                raise TemplateError(f"template: :{stop[1]}: unexpected {rest[0][1]!r} in else")
            else:
                else_body, stop2 = self._list()
                if stop2 is None or stop2[0] != "end":
                    raise TemplateError(
                        f"template: :{line}: expected end; found {'EOF' if stop2 is None else stop2[0]}"
                    )
        return (keyword, pipe, body, else_body)

    def _pipeline(self, tokens, line):
        decl = []
        if len(tokens) >= 2 and tokens[0][0] == "var":
            if tokens[1][0] == "declare" or tokens[1][0] == "assign":
                decl = [tokens[0][1]]
                tokens = tokens[2:]
            elif (
                tokens[1] == ("punct", ",")
                and len(tokens) >= 4
                and tokens[2][0] == "var"
                and tokens[3][0] == "declare"
            ):
                decl = [tokens[0][1], tokens[2][1]]
                tokens = tokens[4:]
        cmds, current = [], []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok == ("punct", "("):
                depth_start = i
                depth = 1
                i += 1
                while i < len(tokens) and depth:
                    if tokens[i] == ("punct", "("):
                        depth += 1
                    elif tokens[i] == ("punct", ")"):
                        depth -= 1
                    i += 1
                if depth:
                    raise TemplateError(f"template: :{line}: unclosed left paren")
                sub = self._pipeline(tokens[depth_start + 1 : i - 1], line)
                chain = None
                if i < len(tokens) and tokens[i][0] == "chain":
                    chain = tokens[i][1]
                    i += 1
                current.append(("pipe", sub, chain))
                continue
            if tok == ("punct", ")"):
                raise TemplateError(f"template: :{line}: unexpected right paren")
            if tok == ("punct", "|"):
                if not current:
                    raise TemplateError(f"template: :{line}: missing command")
                cmds.append(current)
                current = []
            elif tok[0] in ("declare", "assign") or tok == ("punct", ","):
                raise TemplateError(f"template: :{line}: unexpected {tok[1]!r} in command")
            else:
                current.append(self._operand(tok, line))
            i += 1
        if not current:
            raise TemplateError(f"template: :{line}: missing command")
        cmds.append(current)
        for n, cmd in enumerate(cmds):
            if n and cmd[0][0] != "func":
                raise TemplateError(
                    f"template: :{line}: non executable command in pipeline stage {n + 1}"
                )
        return (decl, cmds)

    def _operand(self, tok, line):
        kind, text = tok
        if kind == "field":
            return ("field", [] if text == "." else text[1:].split("."))
        if kind == "var":
            name, _, rest = text.partition(".")
            return ("var", name, rest.split(".") if rest else [])
        if kind == "string":
            return ("lit", json.loads(text))
        if kind == "raw":
            return ("lit", text[1:-1])
        if kind == "char":
            return ("lit", ord(json.loads('"' + text[1:-1] + '"')))
        if kind == "number":
            return ("lit", float(text) if "." in text else int(text))
        if kind == "ident":
            if text in ("true", "false"):
                return ("lit", text == "true")
            if text == "nil":
                return ("lit", None)
            if text not in FUNCS:
                raise TemplateError(f'template: :{line}: function "{text}" not defined')
            return ("func", text)
        raise TemplateError(f"template: :{line}: unexpected {text!r} in operand")


# ---- execution ------------------------------------------------------------------------------


class Template:
    """A parsed template; `execute(data)` returns the rendered text.

    `zero(name)` gives the zero value of a missing field by name (None: `<no value>`).
    """

    def __init__(self, text: str, zero=None):
        self.text = text
        self.nodes = _Parser(text).parse()
        self.zero = zero or (lambda name: NO_VALUE)

    def execute(self, data) -> str:
        out: list[str] = []
        self._run(self.nodes, data, [{"$": data}], out)
        return "".join(out)

    def _run(self, nodes, dot, scopes, out):
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                value = self._pipe(node[1], dot, scopes)
                if not node[1][0]:
                    out.append(go_str(value))
            elif kind == "if":
                _, pipe, body, else_body = node
                scopes.append({})
                cond = self._pipe(pipe, dot, scopes)
                self._run(body if truthy(cond) else else_body, dot, scopes, out)
                scopes.pop()
            elif kind == "with":
                _, pipe, body, else_body = node
                scopes.append({})
                value = self._pipe(pipe, dot, scopes)
                if truthy(value):
                    self._run(body, value, scopes, out)
                else:
                    self._run(else_body, dot, scopes, out)
                scopes.pop()
            elif kind == "range":
                self._range(node, dot, scopes, out)

    def _range(self, node, dot, scopes, out):
        _, (decl, cmds), body, else_body = node
        value = _plain(self._pipe(([], cmds), dot, scopes))
        if isinstance(value, dict):
            pairs = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, (list, tuple)):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        elif value is None:
            pairs = []
        else:
            raise TemplateError(f"template: :1: range can't iterate over {go_str(value)}")
        if not pairs:
            self._run(else_body, dot, scopes, out)
            return
        for key, item in pairs:
            scope = {}
            if len(decl) == 1:
                scope[decl[0]] = item
            elif len(decl) == 2:
                scope[decl[0]], scope[decl[1]] = key, item
            scopes.append(scope)
            self._run(body, item, scopes, out)
            scopes.pop()

    def _pipe(self, pipe, dot, scopes):
        decl, cmds = pipe
        value, piped = None, False
        for cmd in cmds:
            value = self._command(cmd, dot, scopes, value, piped)
            piped = True
        if decl:
            scopes[-1][decl[0]] = value
        return value

    def _command(self, cmd, dot, scopes, piped, has_piped):
        head = cmd[0]
        if head[0] == "func":
            args = [self._eval(op, dot, scopes) for op in cmd[1:]]
            if has_piped:
                args.append(piped)
            name = head[1]
            if name in ("and", "or") and not args:
                raise TemplateError(f"template: :1: wrong number of args for {name}")
            try:
                return FUNCS[name](*args)
            except TemplateError:
                raise
            except TypeError:
                raise TemplateError(
                    f'template: :1:2: executing "" at <{name}>: wrong number of args for {name}'
                ) from None
            except (AttributeError, ValueError, KeyError) as exc:
                raise TemplateError(
                    f'template: :1:2: executing "" at <{name}>: error calling {name}: {exc}'
                ) from None
        if len(cmd) > 1 or has_piped:
            raise TemplateError(
                f"template: :1: can't give argument to non-function {self._name(head)}"
            )
        return self._eval(head, dot, scopes)

    def _name(self, op):
        if op[0] == "field":
            return "." + ".".join(op[1])
        return str(op[1])

    def _eval(self, op, dot, scopes):
        kind = op[0]
        if kind == "lit":
            return op[1]
        if kind == "field":
            return self._walk(dot, op[1])
        if kind == "var":
            for scope in reversed(scopes):
                if op[1] in scope:
                    return self._walk(scope[op[1]], op[2])
            raise TemplateError(f'template: :1: undefined variable "{op[1]}"')
        if kind == "pipe":
            value = self._pipe(op[1], dot, scopes)
            return self._walk(value, op[2][1:].split(".")) if op[2] else value
        if kind == "func":
            return FUNCS[op[1]]()
        raise TemplateError("template: :1: bad operand")

    def _walk(self, value, path):
        for name in path:
            if isinstance(value, Missing):
                # Go walks into a zero-valued struct: its fields are zero values too.
                value = Missing(self.zero(name))
                continue
            if isinstance(value, dict):
                value = value[name] if name in value else Missing(self.zero(name))
            elif value is None:
                raise TemplateError(
                    f'template: :1:2: executing "" at <.{name}>: nil pointer evaluating interface {{}}.{name}'
                )
            else:
                attr = getattr(value, name, _MISSING)
                if attr is _MISSING:
                    raise TemplateError(
                        f'template: :1:2: executing "" at <.{name}>: can\'t evaluate field {name} in type {type(value).__name__}'
                    )
                value = attr() if callable(attr) else attr
        return value


_MISSING = object()


def parse(text: str, zero=None) -> Template:
    return Template(text, zero)
