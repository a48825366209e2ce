"""``maggot ui``: the report page served live from the experiments directory."""

from __future__ import annotations

import click

from maggot import summarize as summaries
from maggot.cli.base import MaggotCommand, warn

DEFAULT_PORT = 8765


@click.command("ui", cls=MaggotCommand)
@click.argument("sources", nargs=-1, metavar="[DIR | RUN...]")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
    help="Port to listen on (0: any free port).",
)  # fmt: skip
@click.option(
    "--host", default="127.0.0.1", show_default=True,
    help="Interface to listen on; anything but loopback lets others on the network read the runs.",
)  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.option(
    "--depth", type=click.IntRange(min=0), default=summaries.DEFAULT_DEPTH, show_default=True,
    help="Look this many folder levels below DIR for runs.",
)  # fmt: skip
def ui_command(
    sources: tuple[str, ...], port: int, host: str, open_browser: bool, depth: int
) -> None:
    """Serve the report page live: new and changed runs show up without a restart.

    SOURCES are run directories or folders holding runs (default:
    ./experiments). The page is the one `maggot report` writes, refreshed
    every two seconds, with code diffs worked out on request. Read-only: it
    never writes into the runs. Listens on 127.0.0.1 unless --host says
    otherwise. Ctrl-C stops it.
    """
    # the server (http.server and the page) loads only for this command
    from maggot import ui

    sources = sources or ("experiments",)
    if host not in ui.LOOPBACK_HOSTS:
        warn(f"--host {host}: anyone who can reach this interface can read these runs")
    try:
        server = ui.make_server(
            sources, host=host, port=port, max_depth=depth, title="maggot: " + " ".join(sources)
        )
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    try:
        # announced inside the try: a Ctrl-C right after the line still stops cleanly
        click.echo(f"maggot ui: serving {' '.join(sources)} at {server.url} (Ctrl-C stops)")
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        click.echo("maggot ui: stopped")
    finally:
        server.server_close()
