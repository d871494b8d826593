"""The `finsent` command line."""

from __future__ import annotations

import typer

from alerting.cli import alerts_app, backtest, kibana_app, report
from classifier.cli import (
    bench,
    check_int8,
    classify,
    evaluate,
    pack_model,
    quality,
    soup_models,
    train,
)
from finsent.cli.config_cmd import app as config_app
from finsent.cli.run_cmd import alert, deliver, run
from finsent.cli.setup_cmd import es_app, kafka_app
from finsent.cli.stack_cmd import app as stack_app
from ingest.cli import ingest, replay

app = typer.Typer(
    name="finsent",
    help="Real-time financial sentiment monitoring: feeds -> Kafka -> BERT -> surge alerts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_app, name="config")
app.add_typer(stack_app, name="stack")
app.add_typer(kafka_app, name="kafka")
app.add_typer(es_app, name="es")
app.add_typer(kibana_app, name="kibana")
app.add_typer(alerts_app, name="alerts")
app.command("report")(report)
app.command("run")(run)
app.command("ingest")(ingest)
app.command("replay")(replay)
app.command("train")(train)
app.command("eval")(evaluate)
app.command("classify")(classify)
app.command("backtest")(backtest)
app.command("alert")(alert)
app.command("deliver")(deliver)
bench_app = typer.Typer(help="Benchmarks (ratios against a baseline run alongside).")
bench_app.command("classifier")(bench)
bench_app.command("quality")(quality)
app.add_typer(bench_app, name="bench")
model_app = typer.Typer(help="Model folders.")
model_app.command("pack")(pack_model)
model_app.command("check-int8")(check_int8)
model_app.command("soup")(soup_models)
app.add_typer(model_app, name="model")


def main() -> None:
    """Console-script entry point."""
    app()
