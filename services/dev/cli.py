"""The development room's commands: ``kronobarn demo``, ``kronobarn bench``, ``kronobarn standin``.

They join the ``kronobarn`` command through the ``kronobarn.commands`` entry point group
(``pyproject.toml``), so the product's CLI never imports this room. Everything, ``services.cli``
too, is imported inside the command that needs it: ``services.cli`` loads this module while it
is itself being imported.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Annotated

import typer

NO_BENCH_EXTRA = "the benchmarks need the [bench] extra: pip install -e '.[bench]' (make bench installs it)"


def register(app: typer.Typer) -> None:
    """Add the development commands to ``app``."""

    @app.command()
    def standin(
        name: Annotated[str, typer.Argument(help="health, school, social or population")],
        port: Annotated[int | None, typer.Option(help="HTTP port (default: the stand-in's own)")] = None,
        host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
        data_dir: Annotated[Path, typer.Option(help="where the stand-in keeps its storage")] = Path("var/standins"),
        children: Annotated[int, typer.Option(help="children in the synthetic county")] = 2_000,
        seed: Annotated[int, typer.Option(help="seed of the synthetic county")] = 20261122,
        change_interval: Annotated[float, typer.Option(help="seconds between simulated changes; 0 = none")] = 0.0,
        extensions: Annotated[bool, typer.Option(help=(
            "school: serve the local extensions (supportDecisions, kaaRegistrations) beside SS 12000; "
            "--no-extensions serves the standard alone"))] = True,
    ) -> None:
        """Run a stand-in source system (synthetic data; another party's system in production)."""
        from services.cli import command_settings
        from services.county import county_directory
        from services.dev.standins import run_standin

        settings = command_settings()
        run_standin(name, host=host, port=port, data_dir=data_dir, children=children, seed=seed,
                    change_interval_s=change_interval, directory=county_directory(settings), extensions=extensions)

    @app.command()
    def demo() -> None:
        """Run the hub on its embedded defaults and show the backbone working end to end."""
        from services.cli import command_settings
        from services.dev.demo.run import run_demo

        if not run_demo(command_settings()):
            raise typer.Exit(1)

    @app.command()
    def bench(
        events: Annotated[int, typer.Option(help="events per measurement")] = 100_000,
        repeats: Annotated[int, typer.Option(help="repeats; the best of each side counts")] = 3,
        bootstrap: Annotated[str | None, typer.Option(help="existing cluster; default a private embedded broker")] = None,
        county: Annotated[int, typer.Option(help="children in the scale case (0 skips it)")] = 45_000,
        postgres: Annotated[str | None, typer.Option(
            help="PostgreSQL URL for the replay bench; a schema is made for the run and dropped after "
                 "[KRONOBARN_TEST_POSTGRES_URL]")] = None,
        records_per_child: Annotated[int | None, typer.Option(
            min=1, help="records per child in the replay scale case, 40 by default (222 gives DESIGN's 10M for "
                        "45,000 children: some 14 minutes more, and 17 GB of memory)")] = None,
    ) -> None:
        """Benchmarks: ratios against baselines measured in the same run (DESIGN §8)."""
        if find_spec("aiohttp") is None:  # the plan-page bench's load generator
            typer.echo(NO_BENCH_EXTRA, err=True)
            raise typer.Exit(2)
        from services.cli import command_settings
        from services.dev.bench.run import run_bench

        run_bench(command_settings(), events=events, repeats=repeats, bootstrap=bootstrap, county_children=county,
                  postgres=postgres, scale_per_child=records_per_child)
