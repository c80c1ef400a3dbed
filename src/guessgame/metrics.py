"""Prometheus metrics of a server (``serve --metrics-port N``).

The hot path only adds to plain integers; ``prometheus_client`` (the
optional extra ``guessgame[metrics]``) reads them when ``/metrics`` is
scraped, through a custom collector. That keeps a scrape-time cost instead
of a per-line one: ``Counter.inc()`` takes a lock on every call.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .protocol import ErrorCode
from .records import GameRecord, Outcome

__all__ = ["LATENCY_BUCKETS", "REFUSAL_REASONS", "Metrics", "start_metrics_server"]

#: Why a connection was refused: the server's limit (``--max-connections``,
#: or the file-descriptor limit below it), the per-address limit
#: (``--max-per-address``), or a server that is stopping.
REFUSAL_REASONS = ("max-connections", "max-per-address", "stopping")

#: Upper bounds (seconds) of the NUMBER latency histogram: the server's own
#: time from reading a line to writing its reply is microseconds; queueing in
#: a loaded event loop pushes it to milliseconds.
LATENCY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


class Metrics:
    """Counters of one server process, safe to update from many threads."""

    def __init__(self, strategy: str, store_stats: Callable[[], dict[str, int]] | None = None):
        self.strategy = strategy
        self.connections_open = 0
        self.connections_total = 0
        #: Connections answered ``ERROR busy``, by reason (see ServerHub.open).
        self.connections_refused: dict[str, int] = {reason: 0 for reason in REFUSAL_REASONS}
        self.games_started = 0
        self.games_ended = {outcome: 0 for outcome in Outcome}
        self.errors = {code: 0 for code in ErrorCode}
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self._store_stats = store_stats
        self._lock = threading.Lock()

    def connection_opened(self) -> None:
        with self._lock:
            self.connections_open += 1
            self.connections_total += 1

    def connection_closed(self) -> None:
        with self._lock:
            self.connections_open -= 1

    def connection_refused(self, reason: str) -> None:
        with self._lock:
            self.connections_refused[reason] = self.connections_refused.get(reason, 0) + 1

    def game_started(self) -> None:
        with self._lock:
            self.games_started += 1

    def game_ended(self, record: GameRecord) -> None:
        with self._lock:
            self.games_ended[record.outcome] += 1

    def error(self, code: ErrorCode) -> None:
        with self._lock:
            self.errors[code] += 1

    def observe_latency(self, seconds: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        with self._lock:
            self.latency_counts[index] += 1
            self.latency_sum += seconds

    def collect(self) -> Iterator[Any]:
        """Metric families for prometheus_client (a custom collector)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        with self._lock:
            yield GaugeMetricFamily(
                "guessgame_connections_open", "Connections open now", value=self.connections_open
            )
            yield CounterMetricFamily(
                "guessgame_connections",
                "Connections accepted and served",
                value=self.connections_total,
            )
            refused = CounterMetricFamily(
                "guessgame_connections_refused",
                "Connections answered ERROR busy, by reason",
                labels=["reason"],
            )
            for reason, count in self.connections_refused.items():
                refused.add_metric([reason], count)
            yield refused
            started = CounterMetricFamily(
                "guessgame_games_started", "Games started", labels=["strategy"]
            )
            started.add_metric([self.strategy], self.games_started)
            yield started
            ended = CounterMetricFamily(
                "guessgame_games_ended", "Games ended, by outcome", labels=["strategy", "outcome"]
            )
            for outcome, count in self.games_ended.items():
                ended.add_metric([self.strategy, outcome.value], count)
            yield ended
            errors = CounterMetricFamily(
                "guessgame_protocol_errors", "ERROR replies sent, by code", labels=["code"]
            )
            for code, count in self.errors.items():
                errors.add_metric([code.value], count)
            yield errors
            cumulative, buckets = 0, []
            for bound, count in zip(
                (*LATENCY_BUCKETS, float("inf")), self.latency_counts, strict=True
            ):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            yield HistogramMetricFamily(
                "guessgame_number_latency_seconds",
                "Server time from reading a NUMBER line to writing the guess",
                buckets=buckets,
                sum_value=self.latency_sum,
            )
        if self._store_stats is not None:
            stats = self._store_stats()
            yield GaugeMetricFamily(
                "guessgame_store_queue_depth",
                "Finished games waiting to be written",
                value=stats.get("queued", 0),
            )
            yield CounterMetricFamily(
                "guessgame_store_records_dropped",
                "Finished games that could not be recorded",
                value=stats.get("dropped", 0),
            )
            yield CounterMetricFamily(
                "guessgame_store_records_written",
                "Finished games written to the store",
                value=stats.get("written", 0),
            )


def start_metrics_server(metrics: Metrics, host: str, port: int) -> Any:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread.

    ImportError (with a hint) when the ``metrics`` extra is not installed;
    OSError when the port cannot be bound.
    """
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise ImportError(
            "--metrics-port needs prometheus_client: pip install 'guessgame[metrics]'"
        ) from None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
