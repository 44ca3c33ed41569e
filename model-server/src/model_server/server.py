"""Process entry point: configuration, logging, uvicorn, and the shutdown sequence.

On SIGTERM: readiness turns 503 at once, the server keeps answering for
SHUTDOWN_DELAY_SECONDS (load balancers and Kubernetes endpoints need a moment to stop sending
traffic), then stops accepting connections, lets accepted requests finish for up to
SHUTDOWN_GRACE_SECONDS, and exits 0. SIGINT (Ctrl-C) skips the delay; a second one forces exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator

import uvicorn
from prometheus_client import start_http_server

from . import metrics
from .app import ServerState, create_app
from .config import ConfigError, Settings, load_settings

log = logging.getLogger("model_server")


class GracefulServer(uvicorn.Server):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = ServerState()
        self.exit_code = 0
        app = create_app(settings, self.state, on_fatal=self._fail)
        super().__init__(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_config=None,  # logging is configured once, in main()
                access_log=settings.access_log,
                timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]
                lifespan="on",
            )
        )

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Replaces uvicorn's handlers, which re-raise the signal at exit (exit status 143
        # instead of 0) and know no drain delay.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            loop.remove_signal_handler(signal.SIGINT)

    def _on_sigterm(self) -> None:
        if self.state.draining:
            self.should_exit = True  # a second SIGTERM: no more delay
            return
        delay = self.settings.shutdown_delay_seconds
        log.info("SIGTERM: readiness is now 503; serving %gs more, then draining", delay)
        self.state.start_draining()
        asyncio.get_running_loop().call_later(delay, self._stop_accepting)

    def _on_sigint(self) -> None:
        if self.should_exit:
            self.force_exit = True
        self.state.start_draining()
        self.should_exit = True

    def _stop_accepting(self) -> None:
        log.info(
            "closing the listener; waiting up to %gs for accepted requests",
            self.settings.shutdown_grace_seconds,
        )
        self.should_exit = True

    def _fail(self) -> None:
        self.exit_code = 1
        self.should_exit = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="model-server", description=__doc__.split("\n")[0])
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "fetch-weights"],
        help="serve (default): run the HTTP server; fetch-weights: download the ImageNet "
        "weights into TORCH_HOME (done at image build time)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"model-server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "fetch-weights":
        from .model import WeightsError, fetch_imagenet_weights

        try:
            print(fetch_imagenet_weights())
        except WeightsError as exc:
            print(f"model-server: {exc}", file=sys.stderr)
            return 1
        return 0
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.host, registry=metrics.REGISTRY)
    server = GracefulServer(settings)
    server.run()
    return server.exit_code
