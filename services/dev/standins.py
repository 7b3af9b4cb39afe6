"""``kronobarn standin NAME``: prepare a stand-in's storage from the county, then serve it."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import structlog

from connectors.standins.county import County
from connectors.standins.registry import standin
from schemas.county import CountyDirectory

log = structlog.get_logger(__name__)


def run_standin(
    name: str, *, host: str, port: int | None, data_dir: Path, children: int, seed: int,
    change_interval_s: float = 0.0, directory: CountyDirectory | None = None, extensions: bool = True,
) -> None:
    """``directory``: the county's organisations (default: the synthetic county's); ``extensions``:
    the school stand-in's local extensions beside the standard."""
    spec = standin(name)
    county = County(seed=seed, children=children) if directory is None else \
        County(seed=seed, children=children, directory=directory)
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"{name}: preparing {children:,} synthetic children under {data_dir} ...", flush=True)
    spec.prepare(data_dir, county)
    stop = threading.Event()
    if change_interval_s > 0 and spec.simulate is not None:
        threading.Thread(target=_simulate, args=(spec, data_dir, county, change_interval_s, stop), daemon=True).start()
    if spec.app is None:
        print(f"{name}: ready (storage under {data_dir}); Ctrl-C to stop.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        return
    import uvicorn

    bind = port or spec.default_port
    print(f"{name}: serving on http://{host}:{bind}", flush=True)
    served = spec.app(data_dir, extensions=extensions) if name == "school" else spec.app(data_dir)
    uvicorn.run(served, host=host, port=bind, log_level="warning", access_log=False)
    stop.set()


def _simulate(spec, data_dir: Path, county: County, interval_s: float, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    while not stop.wait(interval_s):
        spec.simulate(data_dir, county, 1)
        log.info("standin.changed", standin=spec.name)
