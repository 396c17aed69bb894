"""Root of the `kks` command line and the one place that turns errors into exit codes.

Sub-commands live in their own modules and are imported only when used, so `kks card ...` does
not pay for numpy, SimPy or matplotlib imports and a broken optional extra cannot break the rest.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence

import click

from kks_emulator import __version__
from kks_emulator.errors import KksError

#: command name -> "module:attribute" of its click command or group.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("kks_emulator.cli.demo:demo", "Card demo: personalise, credit, load, buy, clear."),
    "card": ("kks_emulator.cli.card:card", "Personalise, inspect and talk to emulated KKS cards."),
    "issuer": ("kks_emulator.cli.issuer:issuer", "The issuer host: accounts, audit, serve."),
    "terminal": ("kks_emulator.cli.terminal:terminal", "The EDC terminal: balance, buy, load."),
    "readers": ("kks_emulator.cli.readers:readers", "List PC/SC readers and their cards."),
    "registry": ("sim.cli.registry:registry", "Generate and inspect household registries."),
    "bench": ("sim.cli.bench:bench", "Benchmarks of the monthly hot path."),
    "sim": ("sim.cli.sim:sim", "Run, validate and compare scenarios."),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Names of the eager commands and of the lazy ones whose module is installed."""
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def _available(self) -> list[str]:
        out = []
        for name, (target, _) in self._lazy.items():
            module = target.split(":")[0]
            if importlib.util.find_spec(module) is not None:
                out.append(name)
        return out

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the module of `cmd_name` on first use and return its click command."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in self._lazy:
            return None
        target, _ = self._lazy[cmd_name]
        module_name, attr = target.split(":")
        if importlib.util.find_spec(module_name) is None:
            return None
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands with their short help without importing their modules."""
        rows = [(name, self._lazy[name][1]) for name in self._available()]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kks")
def cli() -> None:
    """KKS bansos testbed: the national flow model, the monthly hot path and the KKS card."""


#: longest error message printed (a message quoting a huge input is cut, never wrapped)
MAX_MESSAGE = 1000


def one_line(text: str) -> str:
    """*text* on one printable line: control characters and line breaks escaped, long text cut."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                  for c in text)
    return out if len(out) <= MAX_MESSAGE else out[:MAX_MESSAGE - 1] + "…"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, else the error's own `exit_code`."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="kks",
                 standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("kks: aborted", err=True)
        return 130
    except click.UsageError as exc:
        # one line, like every other input error; click keeps its exit code (2)
        where = exc.ctx.command_path if exc.ctx is not None else "kks"
        click.echo(f"kks: error: {one_line(exc.format_message())} (see '{where} --help')",
                   err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"kks: error: {one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except KksError as exc:
        click.echo(f"kks: error: {one_line(str(exc))}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("kks: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
