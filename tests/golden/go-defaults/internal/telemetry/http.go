package telemetry

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// redacted replaces the value of a redacted query parameter.
const redacted = "REDACTED"

var (
	// untracedRoutes are request paths that are neither traced nor measured: health checks
	// and probes would otherwise drown the real traffic.
	untracedRoutes = map[string]bool{
		"/healthz": true,
		"/readyz":  true,
		"/livez":   true,
	}

	// redactedHeaders are never recorded, whatever asks for them.
	redactedHeaders = map[string]bool{
		"authorization":       true,
		"cookie":              true,
		"set-cookie":          true,
		"proxy-authorization": true,
		"x-api-key":           true,
	}

	// redactedQueryParams have their values replaced wherever a URL or query is recorded.
	redactedQueryParams = map[string]bool{
		"token":        true,
		"access_token": true,
		"api_key":      true,
		"password":     true,
		"secret":       true,
		"sig":          true,
	}

	// baggageAttributes are the organisation's string attributes that a request may carry as
	// baggage members; the server span records them, so a value set at the edge (a tenant,
	// say) shows on the spans of every service the request passes through.
	baggageAttributes = []attribute.Key{
		"acme.team",
		"acme.owner",
		"acme.tenant.id",
	}
)

// Middleware returns middleware that traces and measures HTTP requests with otelhttp:
// a server span per request and the http.server.request.duration, request and response
// body size metrics, with exemplars that point at the sampled traces.
//
// Spans are named "{method} {route}" after the route pattern that
// [http.ServeMux] matched, or by the method alone when no route matched, so wrap the mux,
// not the handlers behind it. The request headers named by the policy are recorded as
// http.request.header.<name> attributes, except the redacted ones, and the query is recorded
// as url.query with the values of the redacted parameters replaced by "REDACTED".
// Requests to the policy's untraced routes are neither traced nor measured:
// /healthz, /readyz, /livez.
//
// While telemetry is off (see [SetEnabled]) requests bypass the instrumentation, but the
// trace context of the request is still extracted: the handler's outgoing calls carry it on.
func Middleware(opts ...Option) func(http.Handler) http.Handler {
	c := newConfig(opts)
	propagator := c.propagator()
	if c.publicEndpoint {
		propagator = callerAsLink{propagator}
	}
	instrument := otelhttp.NewMiddleware("",
		otelhttp.WithTracerProvider(c.tracerProvider),
		otelhttp.WithMeterProvider(c.meterProvider),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(serverSpanName),
		otelhttp.WithFilter(func(r *http.Request) bool { return !untracedRoutes[r.URL.Path] }),
	)
	headers := capturedHeaders(c.capturedHeaders)

	return func(next http.Handler) http.Handler {
		instrumented := instrument(annotate(next, headers))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !Enabled() {
				next.ServeHTTP(w, r.WithContext(propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))))
				return
			}
			instrumented.ServeHTTP(w, r)
		})
	}
}

// callerKey is the context key of the span context of the caller of a public endpoint.
type callerKey struct{}

// callerAsLink extracts like the propagator it wraps, but keeps the caller's span context
// out of the trace: a public endpoint starts a trace of its own, and its server span is
// linked to the caller's span instead. Baggage is extracted as usual.
type callerAsLink struct {
	propagation.TextMapPropagator
}

func (p callerAsLink) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	ctx = p.TextMapPropagator.Extract(ctx, carrier)
	caller := trace.SpanContextFromContext(ctx)
	if !caller.IsValid() {
		return ctx
	}
	return trace.ContextWithSpanContext(context.WithValue(ctx, callerKey{}, caller), trace.SpanContext{})
}

// serverSpanName names a server span after the policy: "{method} {route}".
// otelhttp calls it when the span starts and again after the mux has set r.Pattern.
func serverSpanName(_ string, r *http.Request) string {
	return spanName(r.Method, routeOf(r.Pattern))
}

// spanName is the name of the server span of a request with method that matched route, or
// the method alone when no route matched.
func spanName(method, route string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
	default:
		// Arbitrary methods would make span names unbounded; the semantic conventions
		// name them HTTP.
		method = "HTTP"
	}
	if route == "" {
		return method
	}
	return method + " " + route
}

// routeOf returns the path part of a ServeMux pattern such as "GET example.com/items/{id}".
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// capturedHeader is a request header recorded as a span attribute.
type capturedHeader struct {
	name string
	key  attribute.Key
}

// capturedHeaders drops duplicates and redacted headers from names.
func capturedHeaders(names []string) []capturedHeader {
	var headers []capturedHeader
	for _, name := range names {
		if redactedHeaders[name] || slices.ContainsFunc(headers, func(h capturedHeader) bool { return h.name == name }) {
			continue
		}
		headers = append(headers, capturedHeader{name: name, key: attribute.Key("http.request.header." + name)})
	}
	return headers
}

// annotate adds what otelhttp does not record to the server span: the link to the caller of
// a public endpoint, the captured headers, the redacted query, the organisation's attributes
// found in the baggage and, once the mux has matched it, the route.
func annotate(next http.Handler, headers []capturedHeader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		span := trace.SpanFromContext(r.Context())
		if span.IsRecording() {
			if caller, ok := r.Context().Value(callerKey{}).(trace.SpanContext); ok {
				span.AddLink(trace.Link{SpanContext: caller})
			}
			if r.URL.RawQuery != "" {
				span.SetAttributes(semconv.URLQuery(redactQuery(r.URL.RawQuery)))
			}
			bag := baggage.FromContext(r.Context())
			for _, key := range baggageAttributes {
				if member := bag.Member(string(key)); member.Key() != "" {
					span.SetAttributes(key.String(member.Value()))
				}
			}
			for _, h := range headers {
				if values := r.Header.Values(h.name); len(values) > 0 {
					span.SetAttributes(h.key.StringSlice(values))
				}
			}
		}
		next.ServeHTTP(w, r)
		// ServeMux sets r.Pattern on the request it was given, which is r.
		if route := routeOf(r.Pattern); route != "" && span.IsRecording() {
			span.SetAttributes(semconv.HTTPRoute(route))
		}
	})
}

// redactQuery replaces the values of the redacted parameters of a raw query. It keeps the
// order and the encoding of the other parameters.
func redactQuery(rawQuery string) string {
	parts := strings.Split(rawQuery, "&")
	for i, part := range parts {
		key, _, hasValue := strings.Cut(part, "=")
		name, err := url.QueryUnescape(key)
		if err != nil {
			name = key
		}
		if hasValue && redactedQueryParams[strings.ToLower(name)] {
			parts[i] = key + "=" + redacted
		}
	}
	return strings.Join(parts, "&")
}
