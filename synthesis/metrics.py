"""``/metrics`` in Prometheus' text format.

Every number is read at scrape time from the database and from the counters the
workers keep in Redis (synthesis.operations), so whichever web process answers,
the figures are the service's, not one process's.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from synthesis import operations
from synthesis.models import Task, TaskStatus


class ServiceCollector:
    def collect(self):
        indicators = operations.indicators()
        for indicator in indicators:
            gauge = GaugeMetricFamily(f"sovits_{indicator.metric}", f"{indicator.name} ({indicator.unit})")
            if indicator.value is not None:
                gauge.add_metric([], float(indicator.value))
            yield gauge
        alerting = GaugeMetricFamily(
            "sovits_alerting", "1 while an indicator is past its threshold", labels=["indicator"]
        )
        threshold = GaugeMetricFamily(
            "sovits_alert_threshold", "Each indicator's alert threshold", labels=["indicator"]
        )
        for indicator in indicators:
            alerting.add_metric([indicator.metric], float(indicator.alerting))
            threshold.add_metric([indicator.metric], float(indicator.threshold))
        yield alerting
        yield threshold

        pending = GaugeMetricFamily("sovits_tasks_pending", "Tasks waiting for a worker", labels=["region"])
        by_region = dict(
            Task.objects.filter(status=TaskStatus.PENDING).values_list("tenant__region").annotate(n=Count("id"))
        )
        for region in settings.REGIONS:
            pending.add_metric([region], by_region.get(region, 0))
        yield pending

        hits, misses = operations.profile_cache_counts()
        lookups = CounterMetricFamily("sovits_profile_cache_lookups", "Voice profile lookups", labels=["result"])
        lookups.add_metric(["hit"], hits)
        lookups.add_metric(["miss"], misses)
        yield lookups

        purge = operations.purge_metrics()
        runs = CounterMetricFamily("sovits_purge_runs", "Retention purges run")
        runs.add_metric([], purge["totals"]["runs"])
        yield runs
        removed = CounterMetricFamily("sovits_purged", "What retention purges removed", labels=["kind"])
        for kind, count in purge["totals"].items():
            if kind != "runs":
                removed.add_metric([kind], count)
        yield removed
        last = GaugeMetricFamily("sovits_purge_last_run_timestamp_seconds", "Last purge per region", labels=["region"])
        for region, at in purge["last_run"].items():
            if at is not None:
                last.add_metric([region], at.timestamp())
        yield last

        reconciled = CounterMetricFamily(
            "sovits_reconciled", "Work the reconciler sent again or settled (lost messages, dead workers)",
            labels=["kind"],
        )  # fmt: skip
        for kind, count in operations.reconciled_counts().items():
            reconciled.add_metric([kind], count)
        yield reconciled
        # The counters above read 0 while this is 0: Redis, where the workers keep them, is away.
        up = GaugeMetricFamily("sovits_redis_up", "1 while Redis (broker, channel layer, counters) answers")
        up.add_metric([], float(operations.redis_up()))
        yield up


def metrics_view(request):
    """For operators (staff session) and scrapers presenting METRICS_TOKEN as a bearer token."""
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    token_ok = bool(settings.METRICS_TOKEN) and hmac.compare_digest(supplied, settings.METRICS_TOKEN)
    if not (token_ok or (request.user.is_authenticated and request.user.is_staff)):
        # Scrapers read plain text, not the app's HTML error page.
        if supplied or request.user.is_authenticated:
            return HttpResponse("Forbidden: metrics are for operators (staff, or METRICS_TOKEN).\n",
                                status=403, content_type="text/plain; charset=utf-8")  # fmt: skip
        response = HttpResponse("Unauthorized: send Authorization: Bearer <METRICS_TOKEN>, or sign in as staff.\n",
                                status=401, content_type="text/plain; charset=utf-8")  # fmt: skip
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
