package telemetry

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/felixge/httpsnoop"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
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

// Middleware returns middleware that traces and measures HTTP requests with otelhttp: a
// server span per request and the http.server.request.duration metric, with exemplars that
// point at the sampled traces. A 5xx answer sets error.type on both.
//
// Spans are named "{method} {route}" after the route pattern that [http.ServeMux] matched, or
// by the method alone when no route matched, so wrap the mux, not the handlers behind it; with
// another router, see [SetRoute]. Requests to the untraced routes (/healthz, /readyz, /livez)
// are neither traced nor measured. The request headers named by the policy are recorded as
// http.request.header.<name> attributes, except the redacted ones, and the query is recorded
// as url.query with the values of the redacted parameters replaced by "REDACTED".
//
// The trace context of every request is extracted, whatever else happens to it: while
// telemetry is off (see [SetEnabled]) and on untraced routes, the request goes straight to
// next, and its outgoing calls carry the context it brought. A request whose caller did not
// sample its trace goes to next without otelhttp: a parent-based sampler, as the
// organisation's is, would drop its span anyway, so only its context and its duration are
// kept, the metric exactly as otelhttp records it.
func Middleware(opts ...Option) func(http.Handler) http.Handler {
	c := newConfig(opts)
	propagator := c.propagator()
	if c.publicEndpoint {
		propagator = callerAsLink{propagator}
	}
	tracers, meters := c.tracers(), c.meters()
	instrument := otelhttp.NewMiddleware("",
		otelhttp.WithTracerProvider(serverTracers{tracers: tracers}),
		otelhttp.WithMeterProvider(meters),
		// The middleware has extracted the trace context already.
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
	)
	unsampled := newUnsampledServer(tracers, meters)
	headers := capturedHeaders(c.capturedHeaders)

	return func(next http.Handler) http.Handler {
		instrumented := instrument(annotate(next, headers))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, found := extractHeaders(r.Context(), propagator, r.Header)
			switch {
			case !Enabled() || untracedRoutes[r.URL.Path]:
				next.ServeHTTP(w, withContext(r, ctx, found))
			case unsampledByCaller(ctx):
				unsampled.serve(ctx, w, r, next)
			default:
				instrumented.ServeHTTP(w, withContext(r, ctx, found))
			}
		})
	}
}

// withContext returns r with ctx, or r itself when ctx is its context still: when extraction
// found nothing, the request is not copied.
func withContext(r *http.Request, ctx context.Context, extracted bool) *http.Request {
	if !extracted {
		return r
	}
	return r.WithContext(ctx)
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
	return asLink(p.TextMapPropagator.Extract(ctx, carrier))
}

func (p callerAsLink) extractHeaders(ctx context.Context, h http.Header) (context.Context, bool) {
	ctx, found := extractHeaders(ctx, p.TextMapPropagator, h)
	return asLink(ctx), found
}

// asLink moves the remote span context of ctx to callerKey.
func asLink(ctx context.Context) context.Context {
	caller := trace.SpanContextFromContext(ctx)
	if !caller.IsValid() {
		return ctx
	}
	return trace.ContextWithSpanContext(context.WithValue(ctx, callerKey{}, caller), trace.SpanContext{})
}

// unsampledByCaller reports whether ctx carries the context of a caller that did not sample
// the trace, so that the sampler of this process drops the server span: the organisation's
// samplers follow the caller's decision.
func unsampledByCaller(ctx context.Context) bool {
	sc := trace.SpanContextFromContext(ctx)
	return sc.IsValid() && sc.IsRemote() && !sc.IsSampled() && parentBasedSampling.Load()
}

// unsampledServer serves the requests whose caller did not sample the trace. Their span is
// not recorded, so otelhttp would build its attributes for nothing; only their duration is
// recorded, into otelhttp's own instrument and with the attributes otelhttp gives it, so
// that sampled and unsampled requests make one series.
type unsampledServer struct {
	tracer   trace.Tracer
	duration httpconv.ServerRequestDuration
}

func newUnsampledServer(tracers trace.TracerProvider, meters metric.MeterProvider) unsampledServer {
	duration, err := httpconv.NewServerRequestDuration(
		meters.Meter(otelhttp.ScopeName, metric.WithInstrumentationVersion(otelhttp.Version)),
		metric.WithExplicitBucketBoundaries(durationBounds...),
	)
	if err != nil {
		otel.Handle(err)
	}
	return unsampledServer{
		tracer:   tracers.Tracer(otelhttp.ScopeName, trace.WithInstrumentationVersion(otelhttp.Version)),
		duration: duration,
	}
}

// serve serves r, with the context ctx extracted from it, with next. The span it starts is
// not recorded, but it has a span ID of its own: the request's outgoing calls carry it, as
// they would from otelhttp's span.
func (s unsampledServer) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := time.Now()
	ctx, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	// Handlers add metric attributes through otelhttp's Labeler, whichever path serves them.
	labeler := &otelhttp.Labeler{}
	r = r.WithContext(otelhttp.ContextWithLabeler(ctx, labeler))
	var status statusRecorder
	next.ServeHTTP(status.wrap(w), r)

	code := status.code()
	if code >= http.StatusInternalServerError {
		labeler.Add(semconv.ErrorTypeKey.String(strconv.Itoa(code)))
	}
	protocol, version, _ := strings.Cut(r.Proto, "/")
	attrs := append(make([]attribute.KeyValue, 0, 8),
		s.duration.AttrResponseStatusCode(code),
		s.duration.AttrNetworkProtocolName(strings.ToLower(protocol)),
		s.duration.AttrNetworkProtocolVersion(version),
	)
	if route := routeOf(r.Pattern); route != "" {
		attrs = append(attrs, s.duration.AttrRoute(route))
	}
	attrs = append(attrs, labeler.Get()...)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	s.duration.Record(ctx, time.Since(start).Seconds(), requestMethod(r.Method), scheme, attrs...)
}

// requestMethod is the http.request.method of a metric: the method, or _OTHER for one the
// conventions do not name.
func requestMethod(method string) httpconv.RequestMethodAttr {
	switch method = strings.ToUpper(method); method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return httpconv.RequestMethodAttr(method)
	}
	return httpconv.RequestMethodOther
}

// statusRecorder records the status code of a response. Its wrap keeps every optional
// interface of the ResponseWriter (http.Flusher, http.Hijacker, io.ReaderFrom, ...).
type statusRecorder struct {
	status int
}

func (s *statusRecorder) wrap(w http.ResponseWriter) http.ResponseWriter {
	return httpsnoop.Wrap(w, httpsnoop.Hooks{
		WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			return func(code int) {
				// 1xx answers come before the final one.
				if s.status == 0 && code >= http.StatusOK {
					s.status = code
				}
				next(code)
			}
		},
	})
}

// code returns the status code of the response: 200 when the handler set none.
func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// spanName is the name otelhttp gives the server span of a request with method that matched
// route: "{method} {route}", or the method alone when no route matched.
func spanName(method, route string) string {
	method = string(requestMethod(method))
	if method == string(httpconv.RequestMethodOther) {
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
	// canonical is name as an http.Header key.
	canonical string
	key       attribute.Key
}

// capturedHeaders drops duplicates and redacted headers from names.
func capturedHeaders(names []string) []capturedHeader {
	var headers []capturedHeader
	for _, name := range names {
		if redactedHeaders[name] || slices.ContainsFunc(headers, func(h capturedHeader) bool { return h.name == name }) {
			continue
		}
		headers = append(headers, capturedHeader{
			name:      name,
			canonical: http.CanonicalHeaderKey(name),
			key:       attribute.Key("http.request.header." + name),
		})
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
			span.SetAttributes(requestAttributes(r, headers)...)
		}
		next.ServeHTTP(w, r)
		// ServeMux sets r.Pattern on the request it was given, which is r.
		if route := routeOf(r.Pattern); route != "" {
			span.SetAttributes(semconv.HTTPRoute(route))
		}
	})
}

// serverTracers gives otelhttp the tracers of its server spans. otelhttp marks the span of a
// 5xx answer as failed, as the conventions ask, but sets error.type nowhere: its spans
// here set it, on the span and, through otelhttp's Labeler, on the metric.
type serverTracers struct {
	embedded.TracerProvider
	tracers trace.TracerProvider
}

func (p serverTracers) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return serverTracer{tracer: p.tracers.Tracer(name, opts...)}
}

type serverTracer struct {
	embedded.Tracer
	tracer trace.Tracer
}

func (t serverTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx, span := t.tracer.Start(ctx, name, opts...)
	// otelhttp measures with the Labeler it finds in the context of its span.
	labeler, found := otelhttp.LabelerFromContext(ctx)
	if !found {
		ctx = otelhttp.ContextWithLabeler(ctx, labeler)
	}
	return ctx, &errorTypeSpan{Span: span, codeKey: semconv.HTTPResponseStatusCodeKey, labeler: labeler}
}

// requestAttributes are the attributes of r that otelhttp does not record.
func requestAttributes(r *http.Request, headers []capturedHeader) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	if r.URL.RawQuery != "" {
		attrs = append(attrs, semconv.URLQuery(redactQuery(r.URL.RawQuery)))
	}
	bag := baggage.FromContext(r.Context())
	for _, key := range baggageAttributes {
		if member := bag.Member(string(key)); member.Key() != "" {
			attrs = append(attrs, key.String(member.Value()))
		}
	}
	for _, h := range headers {
		if values := r.Header[h.canonical]; len(values) > 0 {
			attrs = append(attrs, h.key.StringSlice(values))
		}
	}
	return attrs
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
