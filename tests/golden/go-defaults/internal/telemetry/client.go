package telemetry

import (
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// NewClient returns an HTTP client whose requests are traced and measured, see
// [NewTransport]. It sets no timeout: bound each request with its context.
func NewClient(opts ...Option) *http.Client {
	return &http.Client{Transport: NewTransport(http.DefaultTransport, opts...)}
}

// NewTransport wraps base (http.DefaultTransport when nil) with otelhttp: each request gets
// a client span named by its method and the http.client.request.duration metric, and its
// headers carry the trace context to the server. The url.full attribute has the values of
// the redacted query parameters replaced by "REDACTED". An answer of 400 or more, or no
// answer, sets error.type on both.
//
// Pass the request's context (http.NewRequestWithContext) so that the client span is a
// child of the span that is handling the incoming request. While telemetry is off no span is
// made and the request carries the trace context of that context unchanged.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	c := newConfig(opts)
	return otelhttp.NewTransport(annotatingTransport{base},
		otelhttp.WithTracerProvider(c.tracers()),
		otelhttp.WithMeterProvider(c.meterProvider),
		otelhttp.WithPropagators(c.propagator()),
		otelhttp.WithSpanNameFormatter(clientSpanName),
	)
}

// clientSpanName names a client span as the conventions do: by its method, or HTTP for a
// method they do not name.
func clientSpanName(_ string, r *http.Request) string {
	if method := requestMethod(r.Method); method != httpconv.RequestMethodOther {
		return string(method)
	}
	return "HTTP"
}

// annotatingTransport runs inside the client span. It overwrites the url.full attribute that
// otelhttp recorded with a redacted one, and gives the metric the error.type of a 4xx or
// 5xx answer, which otelhttp sets on the span only.
type annotatingTransport struct {
	base http.RoundTripper
}

func (t annotatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetAttributes(semconv.URLFull(redactURL(r.URL)))
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode >= http.StatusBadRequest {
		labeler, _ := otelhttp.ClientLabelerFromContext(r.Context())
		labeler.Add(semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
	}
	return resp, err
}

// CloseIdleConnections lets [http.Client.CloseIdleConnections] reach the base transport.
func (t annotatingTransport) CloseIdleConnections() {
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
