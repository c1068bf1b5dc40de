"""argparse with Docker's error wording, exit codes and help layout.

Docker (cobra + pflag) answers a bad flag with exit 125 and a `See '... --help'.` line, and a
wrong number of arguments with exit 1 and the command's usage. Users and scripts rely on
both, so every swarmlet parser speaks that way; subparsers inherit the class.
"""

from __future__ import annotations

import argparse
import re
import sys

FLAG_ERROR_EXIT = 125
USAGE_ERROR_EXIT = 1

# A type function raises ArgumentTypeError(bad_value(value, reason)); the marker lets
# `error()` recover the raw value and print pflag's `invalid argument "v" for "--f" flag: reason`.
_MARK = "\x00"


def bad_value(value: str, reason: str) -> str:
    """Message for ArgumentTypeError that keeps the offending value for Docker's wording."""
    return f"{_MARK}{value}{_MARK}{reason}"


class _SubParsersAction(argparse._SubParsersAction):
    """Keeps each subcommand's one-line help as its description and remembers aliases."""

    def add_parser(self, name, **kwargs):
        aliases = tuple(kwargs.get("aliases", ()))
        if "help" in kwargs and "description" not in kwargs:
            kwargs["description"] = kwargs["help"]
        parser = super().add_parser(name, **kwargs)
        parser.aliases = aliases
        parser.short = kwargs.get("help") or kwargs.get("description") or ""
        return parser


def _flag_name(names: str) -> str:
    """argparse's `-r/--replicas` as pflag prints it: `-r, --replicas`."""
    parts = sorted(names.split("/"), key=lambda s: s.startswith("--"))
    return ", ".join(parts)


class DockerArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose errors, exit codes and help read like the docker CLI's."""

    def __init__(self, *args, use: str | None = None, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.use = use
        self.aliases: tuple[str, ...] = getattr(self, "aliases", ())
        self.short = kwargs.get("description") or ""
        self.register("action", "parsers", _SubParsersAction)

    def _get_formatter(self):
        # argparse builds a formatter per add_argument to check metavars; a fixed width
        # avoids querying the terminal each time (our help has its own layout).
        return self.formatter_class(prog=self.prog, width=100)

    # ---- arity -------------------------------------------------------------------------
    def _positional_bounds(self) -> tuple[int, float]:
        lo, hi = 0, 0.0
        for action in self._actions:
            if action.option_strings or isinstance(action, argparse._SubParsersAction):
                continue
            n = action.nargs
            if n is None:
                lo, hi = lo + 1, hi + 1
            elif n == "?":
                hi += 1
            elif n in ("*", argparse.REMAINDER):
                hi = float("inf")
            elif n == "+":
                lo, hi = lo + 1, float("inf")
            elif isinstance(n, int):
                lo, hi = lo + n, hi + n
        return lo, hi

    def arity_message(self) -> str:
        lo, hi = self._positional_bounds()

        def plural(n):
            return "argument" if n == 1 else "arguments"

        if hi == 0:
            return f'"{self.prog}" accepts no arguments.'
        if lo == hi:
            return f'"{self.prog}" requires exactly {lo} {plural(lo)}.'
        if hi == float("inf"):
            return f'"{self.prog}" requires at least {lo} {plural(lo)}.'
        if lo == 0:
            return f'"{self.prog}" requires at most {int(hi)} {plural(int(hi))}.'
        return f'"{self.prog}" requires at least {lo} and at most {int(hi)} {plural(int(hi))}.'

    def see_help(self) -> str:
        return f"See '{self.prog} --help'."

    def fail_arity(self):
        msg = f"{self.arity_message()}\n{self.see_help()}\n\nUsage:  {self.usage_line()}\n"
        if self.short:
            msg += f"\n{self.short}\n"
        self.exit(USAGE_ERROR_EXIT, msg)

    def fail_flag(self, message: str):
        self.exit(FLAG_ERROR_EXIT, f"{message}\n{self.see_help()}\n")

    # ---- parsing -----------------------------------------------------------------------
    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and not self._subparsers_action():
            self._reject_extras(extras)
        return namespace, extras

    def _subparsers_action(self):
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
        return None

    def _reject_extras(self, extras: list[str]):
        for word in extras:
            if word.startswith("--") and len(word) > 2:
                self.fail_flag(f"unknown flag: {word.split('=', 1)[0]}")
            if word.startswith("-") and len(word) > 1 and word != "--":
                self.fail_flag(f"unknown shorthand flag: '{word[1]}' in {word}")
        self.fail_arity()

    def error(self, message: str):
        m = re.match(r"argument (\S+): (.*)$", message, re.S)
        if message.startswith("the following arguments are required"):
            missing = message.split(":", 1)[1].strip()
            if missing.startswith("-"):
                flags = ", ".join(f'"{f.split("/")[-1].lstrip("-")}"' for f in missing.split(", "))
                self.exit(USAGE_ERROR_EXIT, f"required flag(s) {flags} not set\n")
            self.fail_arity()
        if message.startswith("one of the arguments"):
            flags = " ".join(f.lstrip("-") for f in message.split("arguments", 1)[1].split()[:-2])
            self.exit(
                USAGE_ERROR_EXIT,
                f"at least one of the flags in the group [{flags}] is required\n",
            )
        if m and "not allowed with argument" in m.group(2):
            other = m.group(2).rsplit(" ", 1)[-1]
            self.exit(
                USAGE_ERROR_EXIT,
                f"if any flags in the group [{_flag_name(m.group(1))} {other}] are set "
                "none of the others can be\n",
            )
        if message.startswith("unrecognized arguments:"):
            self._reject_extras(message.split(":", 1)[1].split())
        if m:
            name, detail = m.group(1), m.group(2)
            if not name.startswith("-"):
                cm = re.match(r"invalid choice: '([^']*)'", detail)
                if cm and self._subparsers_action() is not None:
                    word = " ".join(self.prog.split()[1:] + [cm.group(1)])
                    tool = self.prog.split()[0]
                    self.exit(
                        USAGE_ERROR_EXIT,
                        f"{tool}: '{word}' is not a {tool} command.\n{self.see_help()}\n",
                    )
                self.fail_arity()
            flag = _flag_name(name)
            if detail.startswith(_MARK):
                _, value, reason = detail.split(_MARK, 2)
                self.fail_flag(f'invalid argument "{value}" for "{flag}" flag: {reason}')
            vm = re.match(r"invalid (\w+) value: '(.*)'$", detail, re.S)
            if vm:
                kind, value = vm.groups()
                parser_fn = {"int": "strconv.ParseInt", "float": "strconv.ParseFloat"}.get(
                    kind, "strconv.Parse"
                )
                self.fail_flag(
                    f'invalid argument "{value}" for "{flag}" flag: '
                    f'{parser_fn}: parsing "{value}": invalid syntax'
                )
            cm = re.match(r"invalid choice: '(.*)' \(choose from (.*)\)$", detail, re.S)
            if cm:
                value, choices = cm.groups()
                choices = choices.replace("'", "")
                self.fail_flag(
                    f'invalid argument "{value}" for "{flag}" flag: must be one of {choices}'
                )
            if detail.startswith("expected"):
                self.fail_flag(f"flag needs an argument: {name.split('/')[-1]}")
            if detail.startswith("ignored explicit argument"):
                self.fail_flag(f"bad flag syntax: {detail}")
            self.fail_flag(f'invalid argument for "{flag}" flag: {detail}')
        self.fail_flag(message)

    def exit(self, status=0, message=None):
        if message:
            (sys.stderr if status else sys.stdout).write(message)
        raise SystemExit(status)

    # ---- help --------------------------------------------------------------------------
    def usage_line(self) -> str:
        if self.use is not None:
            return f"{self.prog} {self.use}".rstrip()
        if self._subparsers_action():
            return f"{self.prog} COMMAND"
        has_options = any(a.option_strings and a.help != argparse.SUPPRESS for a in self._actions)
        return f"{self.prog}{' [OPTIONS]' if has_options else ''}"

    def format_usage(self) -> str:
        return f"Usage:  {self.usage_line()}\n"

    def is_group(self) -> bool:
        return bool(getattr(self, "group_marker", False)) or self._subparsers_action() is not None

    def _command_sections(self, sub) -> list[tuple[str, list[tuple[str, str]]]]:
        """Docker lists command groups under "Management Commands" at the top level."""
        management, commands = [], []
        for choice in sub._choices_actions:
            if choice.help == argparse.SUPPRESS:
                continue
            parser = sub.choices.get(choice.dest)
            top = " " not in self.prog
            row = (choice.dest, choice.help or "")
            (management if top and parser is not None and parser.is_group() else commands).append(
                row
            )
        return [("Management Commands", management), ("Commands", commands)]

    def _option_rows(self) -> list[tuple[str, str]]:
        rows = []
        for action in self._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._HelpAction):
                continue  # docker does not list --help either
            shorts = [o for o in action.option_strings if not o.startswith("--")]
            longs = [o for o in action.option_strings if o.startswith("--")]
            name = ", ".join(shorts + longs) if shorts else "    " + ", ".join(longs)
            if action.nargs != 0 and action.metavar != "":
                name += f" {action.metavar or 'string'}"
            rows.append((name, action.help or ""))
        return rows

    def format_help(self) -> str:
        out = [f"\nUsage:  {self.usage_line()}\n"]
        if self.description:
            out.append(f"\n{self.description}\n")
        if self.aliases:
            parent = self.prog.rsplit(" ", 1)[0]
            names = [self.prog] + [f"{parent} {a}" for a in self.aliases]
            out.append("\nAliases:\n  " + ", ".join(names) + "\n")
        sections = []
        sub = self._subparsers_action()
        options = self._option_rows()
        if sub is not None and " " not in self.prog:
            sections.append(("Options", options))
        if sub is not None:
            sections.extend(self._command_sections(sub))
        if sub is None or " " in self.prog:
            sections.append(("Options", options))
        for title, rows in sections:
            if not rows:
                continue
            width = max(len(name) for name, _ in rows)
            out.append(f"\n{title}:\n")
            out.extend(f"  {name.ljust(width)}   {text}".rstrip() + "\n" for name, text in rows)
        if sub is not None:
            out.append(f"\nRun '{self.prog} COMMAND --help' for more information on a command.\n")
        return "".join(out)

    def print_help(self, file=None):
        (file or sys.stdout).write(self.format_help())
