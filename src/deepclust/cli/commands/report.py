"""``deepclust report``: build a run folder's ``report.html`` again."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ...exceptions import DeepclustError
from ...io import load
from .. import outputs, pipeline
from ..errors import estimator_errors, os_errors, user_errors
from ..parsing import parse_verbosity


def report(
    run: Path = typer.Argument(..., metavar="RUN_DIR", help="An output folder written by 'deepclust fit'."),
    data: str | None = typer.Option(
        None, "--data", help="The run's data, where it is now (default: where fit read it, from RUN_DIR/run.json)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or notes on stderr."),
) -> None:
    """(Re)build RUN_DIR/report.html from the run's model and data: a self-contained page that
    opens offline in a browser."""
    with user_errors():
        record_path = run / outputs.RUN_JSON
        if not record_path.is_file():
            raise DeepclustError(f"{record_path}: not found; give a folder written by 'deepclust fit'")
        with os_errors(f"read {record_path}"):
            try:
                record = json.loads(record_path.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DeepclustError(f"{record_path}: not valid JSON ({exc})") from None
        pipeline.check_device(device)
        model = load(run / outputs.MODEL_DIR, device=device)
        source = data if data is not None else record.get("data")
        if source is not None and data is None and not Path(source).exists():
            raise DeepclustError(f"{source}, the data of this run, is gone; pass --data with where it is now")
        options = dict(record.get("options", {}))
        if options.get("image_size") is not None:  # a JSON list
            options["image_size"] = tuple(options["image_size"])
        dataset = pipeline.load_dataset(source, record.get("labels"), record.get("label_column"),
                                        parse_verbosity(quiet, False), **options)
        fitted = len(model.labels_)
        if dataset.X.shape[0] != fitted:
            raise DeepclustError(f"{dataset.source} has {dataset.X.shape[0]:,} samples but the model of {run} "
                                 f"was fitted on {fitted:,}: not the data of this run")
        with estimator_errors(dataset.source):
            confidence = outputs.confidence(model, dataset.X)
        page = outputs.report_page(model, dataset, record.get("about", {}), confidence)
        if page is None:
            raise DeepclustError(f"no report of {run}: see the note above")
        outputs.write_outputs({run / outputs.REPORT_HTML: page})
    typer.echo(f"wrote {run / outputs.REPORT_HTML}")
