package telemetry

import (
	"context"
	"encoding/hex"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const (
	traceparentHeader = "traceparent"
	tracestateHeader  = "tracestate"

	// traceparentLength is the length of a version 00 traceparent, and the least length of
	// any version.
	traceparentLength = 55
	// maxTracestateMembers is the most list members a tracestate may have.
	maxTracestateMembers = 32
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
	traceparents := headerLines(carrier, traceparentHeader)
	if len(traceparents) != 1 {
		return ctx
	}
	scc, ok := parseTraceparent(traceparents[0])
	if !ok {
		return ctx
	}
	scc.TraceState = parseTracestate(headerLines(carrier, tracestateHeader))
	scc.Remote = true
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(scc))
}

// Fields returns the headers Inject writes.
func (TraceContext) Fields() []string {
	return []string{traceparentHeader, tracestateHeader}
}

// headerLines returns every line of header key in carrier, or its one value when the carrier
// cannot list them.
func headerLines(carrier propagation.TextMapCarrier, key string) []string {
	if multi, ok := carrier.(propagation.ValuesGetter); ok {
		return multi.Values(key)
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
	if len(src) != 2*len(dst) || strings.ContainsAny(src, "ABCDEF") {
		return false
	}
	_, err := hex.Decode(dst, []byte(src))
	return err == nil
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
	var propagators []propagation.TextMapPropagator
	for _, name := range names {
		switch name = strings.TrimSpace(name); name {
		case "":
			continue
		case "none":
			return propagation.NewCompositeTextMapPropagator()
		case "tracecontext":
			propagators = append(propagators, TraceContext{})
			continue
		}
		p, err := autoprop.TextMapPropagator(name)
		if err != nil {
			warn("telemetry: unknown propagator in OTEL_PROPAGATORS skipped", "name", name)
			continue
		}
		propagators = append(propagators, p)
	}
	return propagation.NewCompositeTextMapPropagator(propagators...)
}
