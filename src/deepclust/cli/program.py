"""The Typer app with its commands, and :func:`main`, the console entry point."""
from __future__ import annotations

import sys

import typer

from ..exceptions import DeepclustError
from ..training.distributed import end_process, world
from .commands import demo, evaluate_cmd, fit, methods, predict, report, sample
from .errors import one_line, usage_error_types
from .launch import launch, split_nproc

app = typer.Typer(
    name="deepclust",
    help="Deep clustering with autoencoders and GANs. Run 'deepclust demo' for a first look.",
    add_completion=False,
    pretty_exceptions_enable=False,  # bugs get Python's plain traceback
    rich_markup_mode=None,  # plain help: no "<bool>" beside on/off flags
)
app.command()(fit)
app.command()(predict)
app.command()(sample)
app.command()(report)
app.command("evaluate")(evaluate_cmd)
app.command()(methods)
app.command()(demo)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, printing usage errors as one ``error:`` line too; the
    process ends through :func:`~deepclust.training.distributed.end_process`, which a torchrun
    job's processes need."""
    end_process(_run(argv))


def _run(argv: list[str] | None) -> int:
    """The app run on ``argv``: its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["--help"]
    if args[0] == "fit" and any(a == "--nproc" or a.startswith("--nproc=") for a in args):
        try:
            nproc, rest = split_nproc(args)
            if world().active:
                raise DeepclustError("--nproc starts its own torchrun job; under torchrun leave it out")
        except DeepclustError as exc:
            typer.echo(f"error: {one_line(str(exc))}", err=True)
            return 2
        return launch(nproc, rest)
    try:
        code = app(args=args, prog_name="deepclust", standalone_mode=False)
    except usage_error_types() as exc:
        hint = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            hint = f" (see '{ctx.command_path} --help')"
        typer.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    return code if isinstance(code, int) else 0
