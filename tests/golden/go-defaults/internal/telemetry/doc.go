// Package telemetry wires OpenTelemetry into orders the way the acme instrumentation policy
// asks for: traces, metrics and logs exported over OTLP, named and attributed alike in every
// service of the organisation.
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
// A main with no error to return, such as one added to an existing service, calls [Start]
// instead, which logs a failure rather than returning it.
//
// Setup builds the resource (service.name, service.namespace, service.version,
// deployment.environment.name, acme.team and acme.owner, service.instance.id and what it
// detects of the host and the process), the tracer, meter and logger providers and their
// exporters, and installs them and the propagators as the OpenTelemetry globals. The standard OTEL_* environment variables win
// over the generated defaults, and a value Setup cannot use is logged and replaced by the
// default, never fatal:
//
//   - OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override resource attributes.
//   - OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TIMEOUT
//     and their per-signal variants choose where and how data is sent; OTEL_TRACES_EXPORTER,
//     OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER choose otlp, console or none;
//     OTEL_BSP_* and OTEL_BLRP_* tune the batching of spans and log records.
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG replace the organisation's sampler.
//   - OTEL_PROPAGATORS replaces the default propagators (tracecontext, baggage).
//   - OTEL_SDK_DISABLED=true turns all telemetry off; trace context still flows.
//
// # Sampling
//
// Roots are sampled with the ratio of the environment the service runs in, chosen when it
// starts from the organisation's table; at most a policy-set number of root traces a second
// are sampled, and children follow their parent. With remote sampling, the Jaeger remote
// sampler of the agent collector decides instead, and the ratio applies while it cannot.
//
// # Runtime control
//
// [SetEnabled] turns telemetry off and on without a restart: while it is off no span is
// created and no log record or metric is exported, but trace context still flows through
// the service. [SetSamplingRatio] changes the ratio. The admin listener ([AdminHandler]),
// the flags file of TELEMETRY_FLAGS_FILE and any [FlagSource] given to [WatchFlags] change
// both at run time, and each change is logged.
//
// # Propagation
//
// [TraceContext] is the W3C Trace Context propagator of this package, Level 2, installed
// for the name tracecontext.
//
// # Instrumentation
//
//   - [Middleware] traces and measures the HTTP server; [SetRoute] names its spans and
//     metrics by the route of a router other than [net/http.ServeMux].
//   - [NewClient] and [NewTransport] trace and measure outgoing HTTP requests and send the
//     trace context along.
//   - [NewLogger] writes JSON log lines of the organisation's schema, with the trace
//     correlation fields of the current span, and forwards the records to OpenTelemetry.
//   - [Go] runs work that a request starts but does not wait for, in a trace linked to the
//     request's.
//
// The constants and functions of attributes.go are the organisation's attribute registry:
// record acme.* attributes through them.
package telemetry
