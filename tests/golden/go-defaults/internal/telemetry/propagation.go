package telemetry

import (
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const (
	traceparentHeader = "traceparent"
	tracestateHeader  = "tracestate"
	baggageHeader     = "baggage"

	// traceparentLength is the length of a version 00 traceparent, and the least length of
	// any version.
	traceparentLength = 55
	// maxTracestateMembers is the most list members a tracestate may have.
	maxTracestateMembers = 32
)

// The headers in the canonical form of [http.Header] keys: a lookup with them allocates
// nothing, unlike one through [propagation.HeaderCarrier].
var (
	traceparentKey = http.CanonicalHeaderKey(traceparentHeader)
	tracestateKey  = http.CanonicalHeaderKey(tracestateHeader)
	baggageKey     = http.CanonicalHeaderKey(baggageHeader)
)

// TraceContext propagates trace context in the W3C traceparent and tracestate headers, as
// Trace Context Level 2 asks. [Setup] installs it for the name tracecontext, in place of
// [propagation.TraceContext], which reads only the first line of each header.
//
// Extract reads every line of a header when the carrier can list them
// ([propagation.ValuesGetter], as [propagation.HeaderCarrier] does):
//   - two traceparent lines make the context invalid, and so does a traceparent with a field
//     of the wrong length, upper-case hex, version ff or an all-zero trace or parent ID; a
//     version above 00 is read by its first four fields;
//   - the tracestate lines are combined in order and empty members are ignored; more than 32
//     members, an invalid key or value, or a duplicate key discard the whole tracestate;
//   - the sampled (0x01) and random (0x02) flags are kept.
//
// Inject writes the traceparent with both flags, and a tracestate only when there is one.
type TraceContext struct{}

var _ propagation.TextMapPropagator = TraceContext{}

// Inject writes the span context of ctx into carrier.
func (TraceContext) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	traceID, spanID := sc.TraceID(), sc.SpanID()
	flags := sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom)
	carrier.Set(traceparentHeader, "00-"+hex.EncodeToString(traceID[:])+"-"+hex.EncodeToString(spanID[:])+
		"-"+hex.EncodeToString([]byte{byte(flags)}))
	if ts := sc.TraceState().String(); ts != "" {
		carrier.Set(tracestateHeader, ts)
	}
}

// Extract returns ctx with the remote span context read from carrier, or ctx itself when
// carrier holds no valid one.
func (TraceContext) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	traceparents := headerLines(carrier, traceparentHeader, traceparentKey)
	if len(traceparents) != 1 {
		return ctx
	}
	scc, ok := parseTraceparent(traceparents[0])
	if !ok {
		return ctx
	}
	scc.TraceState = parseTracestate(headerLines(carrier, tracestateHeader, tracestateKey))
	scc.Remote = true
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(scc))
}

// Fields returns the headers Inject writes.
func (TraceContext) Fields() []string {
	return []string{traceparentHeader, tracestateHeader}
}

func (t TraceContext) extractHeaders(ctx context.Context, h http.Header) (context.Context, bool) {
	if len(h[traceparentKey]) == 0 {
		return ctx, false
	}
	return t.Extract(ctx, propagation.HeaderCarrier(h)), true
}

// headerLines returns every line of header key in carrier, or its one value when the carrier
// cannot list them. canonicalKey is key as an [http.Header] key.
func headerLines(carrier propagation.TextMapCarrier, key, canonicalKey string) []string {
	switch c := carrier.(type) {
	case propagation.HeaderCarrier:
		return c[canonicalKey]
	case propagation.ValuesGetter:
		return c.Values(key)
	}
	if v := carrier.Get(key); v != "" {
		return []string{v}
	}
	return nil
}

// parseTraceparent reads a traceparent header: version "-" trace-id "-" parent-id "-"
// trace-flags, in lower-case hex, with optional whitespace around it.
func parseTraceparent(h string) (trace.SpanContextConfig, bool) {
	var scc trace.SpanContextConfig
	h = strings.Trim(h, " \t")
	if len(h) < traceparentLength || h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return scc, false
	}
	version, flags := h[0:2], h[53:55]
	switch {
	case version == "00" && len(h) != traceparentLength:
		// Version 00 has exactly four fields.
		return scc, false
	case len(h) > traceparentLength && h[traceparentLength] != '-':
		// A later version may add fields, each after a dash.
		return scc, false
	}
	var v, f [1]byte
	if !decodeHex(v[:], version) || v[0] == 0xff ||
		!decodeHex(scc.TraceID[:], h[3:35]) || !decodeHex(scc.SpanID[:], h[36:52]) || !decodeHex(f[:], flags) {
		return scc, false
	}
	scc.TraceFlags = trace.TraceFlags(f[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	return scc, scc.TraceID.IsValid() && scc.SpanID.IsValid()
}

// decodeHex decodes src, which must be lower-case hex exactly twice as long as dst.
func decodeHex(dst []byte, src string) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerHex(src[2*i])
		lo, ok2 := lowerHex(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// lowerHex returns the value of the lower-case hex digit c.
func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// parseTracestate combines the lines of a tracestate header and parses the result, or
// returns an empty tracestate when it is invalid: a broken tracestate is never forwarded.
func parseTracestate(lines []string) trace.TraceState {
	var members []string
	for _, line := range lines {
		for member := range strings.SplitSeq(line, ",") {
			if member = strings.Trim(member, " \t"); member != "" {
				members = append(members, member)
			}
		}
	}
	if len(members) > maxTracestateMembers {
		return trace.TraceState{}
	}
	// ParseTraceState checks the Level 2 key and value grammar and refuses duplicate keys.
	ts, err := trace.ParseTraceState(strings.Join(members, ","))
	if err != nil {
		return trace.TraceState{}
	}
	return ts
}

// newPropagator returns the propagators named by OTEL_PROPAGATORS or, when it is unset, the
// policy's. tracecontext is [TraceContext]; the other names are those autoprop knows
// (baggage, b3, b3multi, jaeger, xray, ottrace). none anywhere in the list means no
// propagator at all, as the specification says. An unknown name is skipped with a warning.
func newPropagator(warn warnFunc) propagation.TextMapPropagator {
	names := defaultPropagators
	if v := strings.TrimSpace(os.Getenv("OTEL_PROPAGATORS")); v != "" {
		names = strings.Split(v, ",")
	}
	var list propagators
	for _, name := range names {
		switch name = strings.TrimSpace(name); name {
		case "":
			continue
		case "none":
			return propagators{}
		case "tracecontext":
			list = append(list, TraceContext{})
			continue
		case "baggage":
			list = append(list, w3cBaggage{})
			continue
		}
		p, err := autoprop.TextMapPropagator(name)
		if err != nil {
			warn("telemetry: unknown propagator in OTEL_PROPAGATORS skipped", "name", name)
			continue
		}
		list = append(list, p)
	}
	return list
}

// headerExtractor is a propagator that can tell whether a request carries anything for it to
// extract, so that a request without trace headers costs no extraction at all.
type headerExtractor interface {
	// extractHeaders is Extract from the headers h. found is false only when h carries
	// nothing for the propagator, and ctx comes back unchanged.
	extractHeaders(ctx context.Context, h http.Header) (_ context.Context, found bool)
}

// extractHeaders extracts the trace context of the headers h into ctx with p.
func extractHeaders(ctx context.Context, p propagation.TextMapPropagator, h http.Header) (context.Context, bool) {
	if e, ok := p.(headerExtractor); ok {
		return e.extractHeaders(ctx, h)
	}
	return p.Extract(ctx, propagation.HeaderCarrier(h)), true
}

// propagators is the list of propagators [Setup] installs, like the composite of
// [propagation.NewCompositeTextMapPropagator], except that it skips the W3C propagators
// whose headers a request does not carry.
type propagators []propagation.TextMapPropagator

// Inject writes the context of ctx into carrier with each propagator in turn.
func (ps propagators) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	for _, p := range ps {
		p.Inject(ctx, carrier)
	}
}

// Extract reads carrier into ctx with each propagator in turn.
func (ps propagators) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	for _, p := range ps {
		ctx = p.Extract(ctx, carrier)
	}
	return ctx
}

// Fields returns the headers the propagators write.
func (ps propagators) Fields() []string {
	var fields []string
	for _, p := range ps {
		for _, f := range p.Fields() {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
	}
	return fields
}

func (ps propagators) extractHeaders(ctx context.Context, h http.Header) (context.Context, bool) {
	var found bool
	for _, p := range ps {
		var ok bool
		ctx, ok = extractHeaders(ctx, p, h)
		found = found || ok
	}
	return ctx, found
}

// w3cBaggage is the W3C baggage propagator, which reads nothing from a request without a
// baggage header.
type w3cBaggage struct {
	propagation.Baggage
}

func (b w3cBaggage) extractHeaders(ctx context.Context, h http.Header) (context.Context, bool) {
	if len(h[baggageKey]) == 0 {
		return ctx, false
	}
	return b.Extract(ctx, propagation.HeaderCarrier(h)), true
}
