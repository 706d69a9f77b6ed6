"""Optional OpenTelemetry tracing: spans over OTLP/HTTP when the SDK is installed and
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; nothing otherwise.

Not a dependency: `pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http`. FastAPI
(0.142 and later) makes a span per request itself once a tracer provider is set; with
`opentelemetry-instrumentation-fastapi` installed, that instrumentation is used instead. Only
traces are exported: metrics stay with Prometheus (/metrics) and logs with stderr.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from fastapi import FastAPI

log = logging.getLogger("benefit_ledger.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SERVICE_NAME = "benefit-ledger"


def setup_tracing(app: FastAPI, environ: Mapping[str, str] = os.environ) -> bool:
    """Trace the app's requests to the OTLP endpoint; True when tracing is on. Once a process:
    the tracer provider is global."""
    if not any(environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as missing:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK or its OTLP/HTTP "
            "exporter is not installed: no traces",
            extra={"missing": missing.name},
        )
        return False
    named = environ.get("OTEL_SERVICE_NAME")  # the SDK reads it; ours only when it is unset
    resource = Resource.create({} if named else {"service.name": DEFAULT_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint: from env
    trace.set_tracer_provider(provider)
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    except ImportError:
        pass  # FastAPI's own telemetry makes the spans from the provider set above
    else:
        FastAPIInstrumentor.instrument_app(app)
    log.info("tracing to OTLP", extra={"service": named or DEFAULT_SERVICE_NAME})
    return True
