// Package telemetry wires OpenTelemetry into orders the way the acme
// instrumentation policy asks for: traces, metrics and logs exported over OTLP, named and
// attributed alike in every service of the organisation.
//
// # Setup
//
// Call [Setup] once at start-up and the returned shutdown function once at exit:
//
//	shutdown, err := telemetry.Setup(ctx, telemetry.Config{})
//	if err != nil {
//		return err
//	}
//	defer shutdown(context.Background())
//
// Setup builds the resource (service.name, service.namespace, service.version,
// deployment.environment.name, acme.team and acme.owner),
// the tracer, meter and logger providers and their OTLP exporters, and installs them and the
// propagators as the OpenTelemetry globals. The standard OTEL_* environment variables win
// over the generated defaults:
//
//   - OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override resource attributes.
//   - OTEL_EXPORTER_OTLP_PROTOCOL (default grpc), OTEL_EXPORTER_OTLP_ENDPOINT
//     (default http://localhost:4317) and OTEL_EXPORTER_OTLP_TIMEOUT (default 5000ms),
//     and their per-signal variants, choose where and how data is sent.
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG replace the default sampler,
//     parentbased_traceidratio with ratio 1.0.
//   - OTEL_PROPAGATORS replaces the default propagators (tracecontext, baggage).
//   - OTEL_SDK_DISABLED=true turns all telemetry off: Setup installs no-op providers.
//
// # Kill switch
//
// [SetEnabled] turns telemetry off and on at run time, without a restart: while it is off no
// span is sampled and no log record or metric is exported. [AdminHandler] serves it over
// HTTP. [Enabled] reports the state.
//
// # Instrumentation
//
//   - [Middleware] traces and measures the HTTP server.
//   - [NewClient] and [NewTransport] trace and measure outgoing HTTP requests and send the
//     trace context along.
//   - [NewLogger] writes JSON log lines that carry the trace_id and span_id of the current span
//     and forwards the records to OpenTelemetry.
//
// The constants and functions of attributes.go are the organisation's attribute registry:
// record acme.* attributes through them.
package telemetry
