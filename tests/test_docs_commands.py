"""The commands README.md and the manual in docs/ show must be ones that work.

From every fenced code block (```sh, ```bash, ```shell, ```console, and unlabelled blocks that
look like shell) and from inline `modelyard …`, `make …` and `GET /path` spans in the prose:

- a `modelyard …` command names a real sub-command, passes only options that command has, and
  no more positional arguments than it takes; in a code block, where it is meant to run as
  written, it also gives the arguments and options the command requires, and the CLI's own
  parser accepts its values (`--kind local`, `--folds 5`);
- a `make X` names a target of the Makefile;
- a `curl` request to the local server, and an inline `METHOD /path`, is a route of the app
  (path and method);
- a ```python block parses.

Nothing is run: the CLI's command tree and the app's routes are inspected (no database, no
model, no litellm), so the whole check takes a few seconds. The CLI is imported in
`modelyard_cli` only, the app in `app_routes` only.
"""

from __future__ import annotations

import ast
import re
import shlex
import textwrap
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def modelyard_cli() -> Any:
    """The `modelyard` command tree, as click sees it. The one place that imports the CLI:
    when web/commands/root.py moves, change this import."""
    import typer

    from web.commands import app

    return typer.main.get_command(app)


def app_routes(data_dir: Path) -> list[Any]:
    """The routes of the app `modelyard serve` serves, built without serving it: the database
    is never opened and no estimator is fitted."""
    from web.app import create_app
    from web.settings import Settings

    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'modelyard.db'}",
        redis_url=None,
        quality_estimator="catalog",
        otel_endpoint=None,
    )
    app = create_app(settings)
    app.state.engine.dispose()
    return list(app.routes)


def make_targets(makefile: Path) -> set[str]:
    targets: set[str] = set()
    for line in makefile.read_text().splitlines():
        # `name other: prerequisites`, not a recipe line (tab) nor `VAR := value`.
        match = re.match(r"([^\s#:=][^:=]*?)\s*::?(?!=)", line)
        if match:
            targets.update(match.group(1).split())
    return targets


# ---------------------------------------------------------------------------------------------
# Reading the markdown


SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
SHELL_PROGRAMS = {"modelyard", "make", "curl", "docker"}
ELLIPSES = {"…", "..."}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<language>[\w+-]*)")
INLINE_CODE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
METHODS = "GET|POST|PUT|PATCH|DELETE"
ENDPOINT = re.compile(rf"^((?:{METHODS})(?:/(?:{METHODS}))*) (/\S*)$")  # `GET/PATCH /api/x`


@dataclass
class Block:
    language: str
    line: int  # of the block's first content line, 1-based
    text: str


def fenced_blocks(markdown: str) -> tuple[list[Block], str]:
    """The fenced blocks, and the prose with each block's lines blanked (line numbers kept)."""
    blocks: list[Block] = []
    prose: list[str] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            prose.append(lines[index])
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        start = index + 1
        index += 1
        while index < len(lines):
            closing = FENCE.match(lines[index])
            if closing and closing["fence"].startswith(fence) and not closing["language"]:
                break
            line = lines[index]
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
            index += 1
        blocks.append(Block(opening["language"].lower(), start + 1, "\n".join(body)))
        prose.extend([""] * (index - start + 2))
        index += 1
    return blocks, "\n".join(prose[: len(lines)])


def looks_like_shell(text: str) -> bool:
    for line in text.splitlines():
        words = line.removeprefix("$ ").split()
        if line.startswith("$ ") or (words and Path(words[0]).name in SHELL_PROGRAMS):
            return True
    return False


def tokens(text: str) -> list[str]:
    """Words as the shell splits them (quotes, comments), with `;`, `&&`, `|` as words."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    return list(lexer)


def shell_lines(block: Block) -> Iterator[tuple[int, str]]:
    """Each logical command line of a shell block: backslash continuations and quotes that
    span lines joined. In a console transcript only the `$ ` lines are commands."""
    lines = block.text.splitlines()
    transcript = any(line.startswith("$ ") for line in lines)
    pending, start = "", 0
    for number, line in enumerate(lines, block.line):
        if not pending:
            if transcript and not line.startswith("$ "):
                continue
            line, start = line.removeprefix("$ ") if transcript else line, number
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        try:
            tokens(pending)
        except ValueError:  # a quote still open: the command goes on on the next line
            continue
        yield start, pending
        pending = ""
    if pending:
        yield start, pending


def simple_commands(line: str) -> Iterator[list[str]]:
    """The commands of a line (split at `;`, `&&`, `||`, `|`, `&`), environment
    assignments in front of them left out."""
    words: list[str] = []
    for token in [*tokens(line), ";"]:
        if token and set(token) <= set(";&|"):
            while words and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words.pop(0)
            if words:
                yield words
            words = []
        else:
            words.append(token)


# ---------------------------------------------------------------------------------------------
# The checks


def is_option(token: str) -> bool:
    return token.startswith("-") and token != "-" and not re.fullmatch(r"-\d+(\.\d*)?", token)


def option_named(command: Any, token: str) -> Any:
    name = token.split("=", 1)[0]
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") == "option" and name in (
            *param.opts,
            *param.secondary_opts,
        ):
            return param
    return None


def takes_value(option: Any, token: str) -> bool:
    if option.is_flag or getattr(option, "count", False) or "=" in token:
        return False
    return token not in option.secondary_opts


def check_modelyard(root: Any, args: Sequence[str], *, complete: bool) -> list[str]:
    """`complete`: the command is meant to run as written (a code block), so a group without
    its sub-command or a missing argument is an error; an inline mention may stop short."""
    command, path = root, ["modelyard"]
    positionals = 0
    given: set[str] = set()
    asks_help = False
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token in ELLIPSES:  # `modelyard keys …`: the rest is left out on purpose
            return []
        if token == "--":
            positionals += len(args) - index
            break
        if is_option(token):
            name = token.split("=", 1)[0]
            if name == "--help":  # any command takes it, and then needs nothing else
                asks_help = True
                continue
            option = option_named(command, token)
            if option is None:
                known = sorted(o for p in command.params for o in (*p.opts, *p.secondary_opts))
                return [f"`{' '.join(path)}` has no option {name} (it has: {', '.join(known)})"]
            given.add(option.name)
            if takes_value(option, token):
                index += 1
                # `--outcomes a.csv b.csv`: an option that may repeat takes several values.
                while option.multiple and index < len(args) and not is_option(args[index]):
                    index += 1
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            positionals += 1
            continue
        if token not in subcommands:
            return [
                f"`{' '.join(path)}` has no sub-command {token!r} "
                f"(it has: {', '.join(sorted(subcommands))})"
            ]
        command = subcommands[token]
        path.append(token)
    if getattr(command, "commands", None) is not None:
        return [f"`{' '.join(path)}` needs a sub-command"] if complete and not asks_help else []
    arguments = [p for p in command.params if getattr(p, "param_type_name", "") == "argument"]
    if all(argument.nargs >= 0 for argument in arguments):
        most = sum(argument.nargs for argument in arguments)
        if positionals > most:
            return [f"`{' '.join(path)}` takes {most} argument(s), the docs give {positionals}"]
    if not complete or asks_help:
        return []
    required = sum(max(argument.nargs, 1) for argument in arguments if argument.required)
    if positionals < required:
        return [f"`{' '.join(path)}` needs {required} argument(s), the docs give {positionals}"]
    missing = [
        param.opts[0]
        for param in command.params
        if param.param_type_name == "option" and param.required and param.name not in given
    ]
    if missing:
        return [f"`{' '.join(path)}` needs {', '.join(missing)}"]
    refusal = refused_by_the_parser(root, args)
    return [f"`{' '.join(path)}`: {refusal}"] if refusal else []


def refused_by_the_parser(root: Any, args: Sequence[str]) -> str | None:
    """What the CLI's own parser says of the arguments, sub-command by sub-command, without
    running anything: a value it cannot convert (`--kind locl`, `--folds five`) is refused."""
    try:
        context = root.make_context("modelyard", list(args))
        command = root
        while getattr(command, "commands", None):
            protected = getattr(context, "_protected_args", None)
            if protected is None:  # click before 8.2
                protected = context.protected_args
            name, command, rest = command.resolve_command(context, [*protected, *context.args])
            context = command.make_context(name, rest, parent=context)
    except Exception as error:  # click's usage errors, whichever copy of click typer uses
        format_message = getattr(error, "format_message", None)
        return format_message() if format_message else str(error)
    return None


CURL_OPTIONS_WITH_VALUE = {
    "-H", "--header", "-d", "--data", "--data-raw", "--data-binary", "--data-urlencode",
    "--json", "-X", "--request", "-o", "--output", "-u", "--user", "-A", "--user-agent",
    "-e", "--referer", "-b", "--cookie", "-c", "--cookie-jar", "-F", "--form", "-m",
    "--max-time", "-w", "--write-out", "-T", "--upload-file",
}  # fmt: skip
CURL_DATA = {"-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--json", "-F"}


def curl_request(args: Sequence[str]) -> tuple[str, str] | None:
    """(method, path) of a curl command line aimed at the local server, else None."""
    method, url, has_data = None, None, False
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token in CURL_OPTIONS_WITH_VALUE:
            if token in ("-X", "--request"):
                method = args[index].upper() if index < len(args) else None
            has_data = has_data or token in CURL_DATA
            index += 1
        elif token.startswith("-"):
            if re.fullmatch(r"-[a-zA-Z]*I[a-zA-Z]*", token) or token == "--head":
                method = method or "HEAD"
        elif url is None:
            url = token
    if url is None:
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.hostname not in ("localhost", "127.0.0.1"):
        return None  # someone else's server
    return method or ("POST" if has_data else "GET"), parts.path or "/"


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


class DocsChecker:
    def __init__(self, cli: Any, targets: set[str], routes: Sequence[Any]) -> None:
        self.cli = cli
        self.targets = targets
        self.routes = routes

    def route_match(self, method: str, path: str) -> Any:
        """How the app's router would take the request: FULL, PARTIAL (the path is known, not
        the method) or NONE. Each route is asked as the router asks it, so routers FastAPI
        includes lazily answer too."""
        from starlette.routing import Match

        best = Match.NONE
        for route in self.routes:
            scope = {"type": "http", "method": method, "path": path, "root_path": ""}
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return match
            best = max(best, match, key=lambda m: m.value)
        return best

    def route_problem(self, method: str, path: str) -> str | None:
        from starlette.routing import Match

        match = self.route_match(method, path)
        if match == Match.FULL:
            return None
        if match == Match.PARTIAL:
            methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
            allowed = [m for m in methods if self.route_match(m, path) == Match.FULL]
            return f"{method} {path}: the app answers {path} only to {', '.join(allowed)}"
        return f"{method} {path}: no route of the app matches"

    def command(self, words: list[str], report: Report, *, complete: bool) -> list[str]:
        program = Path(words[0]).name
        if program == "docker" and words[1:3] == ["compose", "exec"]:
            service = next((i for i in range(3, len(words)) if not is_option(words[i])), None)
            rest = words[service + 1 :] if service is not None else []
            return self.command(rest, report, complete=complete) if rest else []
        if program == "modelyard":
            report.counts["modelyard"] += 1
            return check_modelyard(self.cli, words[1:], complete=complete)
        if program == "make":
            report.counts["make"] += 1
            wanted = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
            wanted = [] if set(wanted) & ELLIPSES else wanted  # `make …`: any target
            return [f"the Makefile has no target {t!r}" for t in wanted if t not in self.targets]
        if program == "curl":
            request = curl_request(words[1:])
            if request is None:
                return []
            report.counts["curl"] += 1
            problem = self.route_problem(*request)
            return [problem] if problem else []
        return []

    def check(self, markdown: str) -> Report:
        report = Report()
        blocks, prose = fenced_blocks(markdown)
        for block in blocks:
            if block.language in ("python", "py"):
                report.counts["python"] += 1
                try:
                    ast.parse(textwrap.dedent(block.text))
                except SyntaxError as error:
                    line = block.line + (error.lineno or 1) - 1
                    report.problems.append(f"line {line}: python does not parse: {error.msg}")
                continue
            if block.language not in SHELL_LANGUAGES and not (
                block.language == "" and looks_like_shell(block.text)
            ):
                continue
            for line_number, line in shell_lines(block):
                for words in simple_commands(line):
                    for problem in self.command(words, report, complete=True):
                        report.problems.append(f"line {line_number}: {problem}")
        for match in INLINE_CODE.finditer(prose):
            span = " ".join(match.group(1).split())
            line_number = prose.count("\n", 0, match.start()) + 1
            endpoint = ENDPOINT.match(span)
            if endpoint:
                report.counts["endpoint"] += 1
                path = re.sub(r"\{[^}]*\}", "x", endpoint.group(2).split("?", 1)[0])
                for method in endpoint.group(1).split("/"):
                    problem = self.route_problem(method, path)
                    if problem:
                        report.problems.append(f"line {line_number}: `{span}`: {problem}")
                continue
            words = span.split(maxsplit=1)
            if words and Path(words[0]).name in ("modelyard", "make") and len(words) > 1:
                try:
                    commands = list(simple_commands(span))
                except ValueError:
                    continue
                for command in commands:
                    for problem in self.command(command, report, complete=False):
                        report.problems.append(f"line {line_number}: `{span}`: {problem}")
        return report


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> DocsChecker:
    routes = app_routes(tmp_path_factory.mktemp("docs-app"))
    return DocsChecker(modelyard_cli(), make_targets(ROOT / "Makefile"), routes)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_commands_in_the_docs_are_real(checker: DocsChecker, document: Path) -> None:
    report = checker.check(document.read_text())
    where = document.relative_to(ROOT)
    assert not report.problems, "\n".join(f"{where}:{problem}" for problem in report.problems)


def test_the_check_sees_the_commands(checker: DocsChecker) -> None:
    """Guard against a checker that passes because it reads nothing."""
    total: Counter[str] = Counter()
    for document in DOCUMENTS:
        total += checker.check(document.read_text()).counts
    assert total["modelyard"] >= 40
    assert total["make"] >= 5
    assert total["curl"] >= 20
    assert total["python"] >= 5
    assert total["endpoint"] >= 30
    readme = checker.check((ROOT / "README.md").read_text()).counts
    assert readme["modelyard"] and readme["make"] and readme["curl"] and readme["python"]


def fenced(language: str, body: str) -> str:
    return f"Some prose.\n\n```{language}\n{body}\n```\n"


@pytest.mark.parametrize(
    ("markdown", "reported"),
    [
        (fenced("sh", "modelyard catalog frobnicate"), "no sub-command 'frobnicate'"),
        (fenced("sh", "modelyard frobnicate --json"), "no sub-command 'frobnicate'"),
        (fenced("bash", "modelyard catalog list --no-such-option"), "no option --no-such-option"),
        (fenced("sh", "modelyard doctor --jsn"), "`modelyard doctor` has no option --jsn"),
        (fenced("sh", "modelyard catalog"), "`modelyard catalog` needs a sub-command"),
        (fenced("sh", "modelyard catalog show a b c"), "takes 1 argument(s)"),
        (fenced("sh", "modelyard catalog show"), "needs 1 argument(s)"),
        (fenced("sh", "modelyard keys create --admin"), "`modelyard keys create` needs --name"),
        (fenced("sh", "modelyard deployments update x --status gone"), "'gone' is not one of"),
        (fenced("sh", "modelyard router eval --outcomes a.csv --folds five"), "'--folds'"),
        (
            fenced("sh", "docker compose exec modelyard-1 modelyard deployments add --nope 1"),
            "no option --nope",
        ),
        (fenced("sh", "make no-such-target"), "no target 'no-such-target'"),
        (fenced("sh", "FOO=1 make run && make no-such-target"), "no target 'no-such-target'"),
        (fenced("sh", "curl -s localhost:8000/api/no-such-path"), "no route of the app"),
        (
            fenced("sh", "curl -s localhost:8000/v1/chat/completions \\\n    -H 'A: b'"),
            "answers /v1/chat/completions only to POST",
        ),
        (fenced("", "$ modelyard licence check phi-2\nerror: output"), "no sub-command 'licence'"),
        (fenced("python", "def broken(:\n    pass"), "python does not parse"),
        ("Run `modelyard keys frobnicate NAME` to …\n", "no sub-command 'frobnicate'"),
        ("Then `make nothing-here`.\n", "no target 'nothing-here'"),
        ("`DELETE /api/no/such/{id}` removes it.\n", "no route of the app"),
    ],
)
def test_the_check_finds_mistakes(checker: DocsChecker, markdown: str, reported: str) -> None:
    problems = checker.check(markdown).problems
    assert len(problems) == 1, problems
    assert reported in problems[0]


def test_the_check_passes_what_is_right(checker: DocsChecker) -> None:
    markdown = (
        fenced(
            "sh",
            "modelyard --debug catalog list --family mistral --sort -context --json\n"
            "modelyard catalog show --help; modelyard catalog --help\n"
            "modelyard router eval --outcomes a.csv b.csv --folds 5\n"
            'modelyard keys create --name x --policy \'{"a": 1,\n    "b": 2}\'\n'
            "MODELYARD_LOG_LEVEL=debug make run\n"
            "curl -s -X POST localhost:8000/api/deployments -H 'A: b' \\\n    -d '{}'\n"
            "curl -s localhost:8000/api/models/microsoft/Orca-2-13b/bom | python3 -m json.tool",
        )
        + fenced("python", "import json\nprint(json.dumps({}))")
        + "See `modelyard keys …`, `GET/PATCH/DELETE /api/teams/{name}` and `make test`.\n"
    )
    report = checker.check(markdown)
    assert not report.problems
    assert report.counts == Counter(modelyard=6, make=2, curl=2, python=1, endpoint=1)
