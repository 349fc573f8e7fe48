package telemetry

import (
	"net/http"
	"net/url"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// NewClient returns an HTTP client whose requests are traced and measured, see
// [NewTransport]. It sets no timeout: bound each request with its context.
func NewClient(opts ...Option) *http.Client {
	return &http.Client{Transport: NewTransport(http.DefaultTransport, opts...)}
}

// NewTransport wraps base (http.DefaultTransport when nil) with otelhttp: each request gets
// a client span and the http.client.request.duration metric, and its headers carry the
// trace context to the server. The url.full attribute has the values of the redacted query
// parameters replaced by "REDACTED".
//
// Pass the request's context (http.NewRequestWithContext) so that the client span is a
// child of the span that is handling the incoming request. While telemetry is off no span is
// made and the request carries the trace context of that context unchanged.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	c := newConfig(opts)
	return otelhttp.NewTransport(redactingTransport{base},
		otelhttp.WithTracerProvider(c.tracerProvider),
		otelhttp.WithMeterProvider(c.meterProvider),
		otelhttp.WithPropagators(c.propagator()),
	)
}

// redactingTransport runs inside the client span and overwrites the url.full attribute
// that otelhttp recorded with a redacted one.
type redactingTransport struct {
	base http.RoundTripper
}

func (t redactingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetAttributes(semconv.URLFull(redactURL(r.URL)))
	}
	return t.base.RoundTrip(r)
}

// CloseIdleConnections lets [http.Client.CloseIdleConnections] reach the base transport.
func (t redactingTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// redactURL returns u as a string without user information and with the values of the
// redacted query parameters replaced.
func redactURL(u *url.URL) string {
	clean := *u
	clean.User = nil
	clean.RawQuery = redactQuery(u.RawQuery)
	return clean.String()
}
