"""The ``edgevision`` command line.

Errors a user can cause end in one line on stderr and a non-zero exit code; ``--debug``
shows the traceback. ``train`` and ``export`` are loaded only when used, so the runtime never
imports TensorFlow.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from edgevision import __version__
from edgevision.errors import EXIT_USAGE, EdgevisionError, UsageError

log = logging.getLogger("edgevision")

_DESKTOP_MODULES = {"tensorflow", "keras", "mlxtend", "sklearn", "skimage", "matplotlib"}
_LAZY_COMMANDS = {
    "service": ("edgevision.service.cli", "service_group", "Install and run edgevision as a systemd service."),
    "config": ("edgevision.service.cli", "config_group", "Check config files."),
    "train": ("train.cli", "train", "Train a classifier, detector or segmenter (desktop)."),
    "export": ("export.cli", "export", "Convert a trained Keras model to quantized TFLite."),
}


class _LazyGroup(click.Group):
    """Resolves the desktop-only commands on first use, with a clear error without the extra."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY_COMMANDS])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Lists lazy commands from their short help, so ``--help`` imports nothing heavy."""
        rows = [(name, _LAZY_COMMANDS[name][2]) for name in _LAZY_COMMANDS]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in self.commands.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _LAZY_COMMANDS:
            return super().get_command(ctx, name)
        module_name, attribute, help_text = _LAZY_COMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing = exc.name or "a dependency"

            @click.command(name, help=help_text, add_help_option=False,
                           context_settings={"ignore_unknown_options": True})
            @click.argument("args", nargs=-1, type=click.UNPROCESSED)
            def unavailable(args: tuple[str, ...]) -> None:
                raise UsageError(
                    f"'edgevision {name}' needs {missing}: install the desktop extra with "
                    "pip install 'edgevision[train]'"
                )

            return unavailable
        return getattr(module, attribute)


class _ThreadsType(click.ParamType):
    """A positive thread count, or ``auto`` to probe for the fastest one at start."""

    name = "N|auto"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if value is None or value == "auto" or isinstance(value, int):
            return value
        if str(value).isdigit() and int(value) > 0:
            return int(value)
        self.fail(f"{value!r} is not a positive number or 'auto'", param, ctx)


THREADS = _ThreadsType()


def _decode_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """A positive FFmpeg decoding thread count; anything else is a one-line usage error."""
    if value is not None and value < 1:
        raise UsageError(f"--decode-threads must be 1 or more, got {value}")
    return value


DECODE_THREADS_HELP = "FFmpeg decoding threads. Default: CPU cores minus interpreter threads minus 1, at least 1."


def _configure_logging(level: str, debug: bool) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if debug else getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="edgevision")
@click.option("--debug", is_flag=True, help="Debug logs and full tracebacks on errors.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, log_level: str) -> None:
    """Real-time video recognition with quantized TFLite models."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _configure_logging(log_level, debug)


@cli.command()
@click.option("--model", "models", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="TFLite model; repeat to run several on each frame. Default: the shipped detector.")
@click.option("--labels", "labels", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Label file for the --model at the same position (overrides its metadata).")
@click.option("--source", help="demo, a video file, rtsp://..., http(s)://..., picamera2:N.")
@click.option("--camera", help="Camera number (V4L2) or 'picam'.")
@click.option("--camera-name", help="Name used in results and topics. Default: from the source.")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after N frames.")
@click.option("--loop", is_flag=True, help="Play a file source again when it ends.")
@click.option("--realtime", is_flag=True, help="Pace a file at its frame rate, dropping late frames.")
@click.option("--threads", type=THREADS, help="Interpreter threads, or 'auto' to probe 1 to cores-1 at start.")
@click.option("--decode-threads", type=int, callback=_decode_threads, help=DECODE_THREADS_HELP)
@click.option("--delegate", help="edgetpu, gpu, or a delegate library path.")
@click.option("--delegate-fallback", type=click.Choice(["cpu", "fail"]), default="cpu", show_default=True,
              help="What to do when the delegate cannot load.")
@click.option("--family", type=click.Choice(["ssd", "yolo", "segmentation", "classification"]),
              help="Force the model family when it cannot be told from the model.")
@click.option("--score-threshold", type=click.FloatRange(0, 1), help="Minimum detection score.")
@click.option("--iou-threshold", type=click.FloatRange(0, 1), help="IoU for host-side NMS.")
@click.option("--agnostic-nms", is_flag=True,
              help="One box per object: drop a box overlapping a higher-scored one of another class.")
@click.option("--output", type=click.Choice(["stdout", "none"]), default="stdout", show_default=True,
              help="Where per-frame JSON lines go.")
@click.option("--polygons", is_flag=True, help="Add segmentation mask polygons to the JSON.")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), help="Write the annotated video.")
@click.option("--display", is_flag=True, help="Show the annotated video in a window.")
@click.option("--mqtt", help="Publish to mqtt://[user:pass@]host[:port][/prefix] (or mqtts://).")
@click.option("--mqtt-rate", type=click.FloatRange(min=0, min_open=True), help="Max detections messages per second per camera.")
@click.option("--mqtt-ca", type=click.Path(dir_okay=False, path_type=Path), help="CA file for mqtts://.")
@click.option("--mqtt-cert", type=click.Path(dir_okay=False, path_type=Path), help="Client certificate.")
@click.option("--mqtt-key", type=click.Path(dir_okay=False, path_type=Path), help="Client certificate key.")
@click.option("--mqtt-insecure", is_flag=True, help="Skip the broker certificate check (testing only).")
@click.option("--mqtt-client-id", help="MQTT client id. Default: unique per device.")
@click.option("--mqtt-protocol", type=click.Choice(["3.1.1", "5"]), help="MQTT protocol version.")
@click.option("--http", help="Serve the live view on HOST:PORT (127.0.0.1:8080).")
@click.option("--http-token", help="Token required on every HTTP endpoint (needed beyond loopback).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML config file; flags given here override it.")
@click.pass_context
def run(ctx: click.Context, **_options) -> None:
    """Stream frames through the models and publish what they see."""
    from edgevision.app import run_from_options  # noqa: PLC0415 - keeps --help fast
    from edgevision.service.cli import explicit_options  # noqa: PLC0415

    run_from_options(explicit_options(ctx))


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), help="Label file to check.")
@click.option("--delegate", help="Check whether this delegate would take the model.")
def inspect(model: Path, as_json: bool, labels: Path | None, delegate: str | None) -> None:
    """Show a model's tensors, detected family, labels and normalization."""
    from edgevision.inspect import inspect_model  # noqa: PLC0415

    inspect_model(model, as_json=as_json, labels=labels, delegate=delegate)


@cli.command()
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path),
              help="TFLite model. Default: the shipped detector.")
@click.option("--source", default="demo", show_default=True, help="Video file or stream to read.")
@click.option("--frames", type=click.IntRange(min=10), default=300, show_default=True,
              help="Frames per measurement (and the minimum number of invokes).")
@click.option("--threads", type=THREADS, help="Interpreter threads, or 'auto' (probes 1 to cores-1).")
@click.option("--decode-threads", type=int, callback=_decode_threads, help=DECODE_THREADS_HELP)
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs of decode-only, end-to-end and the serial loop, interleaved; each reports its median.")
@click.option("--delegate", help="edgetpu, gpu, or a delegate library path.")
@click.option("--compare", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Another build of the model (e.g. float32) to compare invoke speed and size with.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (schema: schema/bench.schema.json).")
def bench(model: Path | None, source: str, frames: int, threads, decode_threads: int | None, repeat: int,
          delegate: str | None, compare: Path | None, as_json: bool) -> None:  # fmt: skip
    """Measure invoke, decode, the pipelined runtime, a serial loop and the pipeline at the source's
    own frame rate, on one model and source.

    All of them read the source with the same decoding threads, the pipelined runtime's.
    """
    import json  # noqa: PLC0415

    from edgevision.app import resolve_threads  # noqa: PLC0415
    from edgevision.assets import default_model_path  # noqa: PLC0415
    from edgevision.bench import format_report, run_bench  # noqa: PLC0415
    from edgevision.inference.model import ModelOptions  # noqa: PLC0415
    from edgevision.pipeline import decode_threads_for  # noqa: PLC0415

    model_path = model or default_model_path()
    threads = resolve_threads(threads, model_path, ModelOptions(delegate=delegate))
    options = ModelOptions(delegate=delegate, threads=threads)
    decode_threads = decode_threads or decode_threads_for(threads)
    report = run_bench(model_path, source, frames, options, decode_threads, compare, repeat)
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))


def main() -> None:
    """Entry point: turns user errors into one line and an exit code."""
    debug = "--debug" in sys.argv[1:]
    try:
        cli.main(standalone_mode=False)
    except EdgevisionError as exc:
        if debug:
            raise
        click.echo(f"edgevision: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("edgevision: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # One line, like every other user error; click's own form adds a usage banner.
        where = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
        click.echo(f"edgevision: error: {exc.format_message().rstrip('.')}{where}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except ImportError as exc:
        if debug or (exc.name or "").split(".")[0] not in _DESKTOP_MODULES:
            raise
        click.echo(
            f"edgevision: error: this command needs {exc.name}: install the desktop extra with "
            "pip install 'edgevision[train]'",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    except BrokenPipeError:
        # The reader of stdout went away (`edgevision run | head`): end quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:
        if debug:
            raise
        click.echo(f"edgevision: error: {exc}", err=True)
        sys.exit(1)
    sys.exit(0)


