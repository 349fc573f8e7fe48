package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

var (
	// switchedOff is the runtime kill switch. Its zero value, false, means telemetry is on.
	switchedOff atomic.Bool
	// disabled records that Setup found OTEL_SDK_DISABLED=true.
	disabled atomic.Bool
	// activeSampler is the sampler of the tracer provider that Setup built.
	activeSampler atomic.Pointer[sdktrace.Sampler]
	// changes serialises runtime changes, so that their log lines come in the order in which
	// they were applied.
	changes sync.Mutex
)

// Enabled reports whether telemetry is recorded: false while the kill switch is off and
// when the process started with OTEL_SDK_DISABLED=true.
func Enabled() bool {
	return !switchedOff.Load() && !disabled.Load()
}

// SetEnabled turns the runtime kill switch on or off. While it is off no span is created,
// no log record and no metric is exported, and trace context still flows: the context a
// request brings is what its outgoing calls carry. It cannot turn on telemetry that
// OTEL_SDK_DISABLED turned off.
func SetEnabled(on bool) {
	changes.Lock()
	defer changes.Unlock()
	switchedOff.Store(!on)
}

// SamplingRatio returns the ratio that root spans are sampled with.
func SamplingRatio() float64 {
	return rootRatio.Load()
}

// SetSamplingRatio changes the ratio that root spans are sampled with, from 0 to 1. With
// remote sampling it is the ratio used while no strategy is available.
func SetSamplingRatio(ratio float64) error {
	if !validRatio(ratio) {
		return fmt.Errorf("telemetry: sampling ratio %g is not from 0 to 1", ratio)
	}
	changes.Lock()
	defer changes.Unlock()
	rootRatio.Store(ratio)
	return nil
}

// Flags are the telemetry settings that can change while the service runs; a nil field
// leaves its setting as it is. The admin endpoint and the flags file take them as JSON:
//
//	{"enabled": false, "sampling_ratio": 0.05}
type Flags struct {
	// Enabled turns the kill switch on (true) or off (false), see [SetEnabled].
	Enabled *bool `json:"enabled"`
	// SamplingRatio is the ratio that root spans are sampled with, see [SetSamplingRatio].
	SamplingRatio *float64 `json:"sampling_ratio"`
}

// apply is the one way the admin endpoint, the flags file and every [FlagSource] change the
// settings. It logs what changed, from which source and, in who, on whose behalf.
func apply(ctx context.Context, f Flags, source string, who ...any) error {
	if f.SamplingRatio != nil && !validRatio(*f.SamplingRatio) {
		return fmt.Errorf("sampling_ratio %g is not from 0 to 1", *f.SamplingRatio)
	}
	changes.Lock()
	defer changes.Unlock()
	var what []any
	if f.Enabled != nil && *f.Enabled == switchedOff.Load() {
		switchedOff.Store(!*f.Enabled)
		what = append(what, "enabled", *f.Enabled)
	}
	if f.SamplingRatio != nil && *f.SamplingRatio != rootRatio.Load() {
		rootRatio.Store(*f.SamplingRatio)
		what = append(what, "sampling_ratio", *f.SamplingRatio)
	}
	if what != nil {
		args := append(append([]any{"source", source}, who...), what...)
		slog.WarnContext(ctx, "telemetry settings changed", args...)
	}
	return nil
}

// state is what the admin endpoint reports.
type state struct {
	Enabled       bool    `json:"enabled"`
	SamplingRatio float64 `json:"sampling_ratio"`
	Sampler       string  `json:"sampler"`
}

func currentState() state {
	s := state{Enabled: Enabled(), SamplingRatio: rootRatio.Load()}
	if sampler := activeSampler.Load(); sampler != nil {
		s.Sampler = (*sampler).Description()
	}
	return s
}

// gatedTracerProvider is the SDK's tracer provider with two differences. While the kill switch
// is off its tracers create no span: Start hands back the span context of the parent, so the
// trace context a request brought is the one its outgoing calls carry. And the traces it
// starts carry the W3C random flag, because their trace IDs are random.
type gatedTracerProvider struct {
	embedded.TracerProvider
	sdk *sdktrace.TracerProvider
}

func (p gatedTracerProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return gatedTracer{sdk: p.sdk.Tracer(name, opts...)}
}

type gatedTracer struct {
	embedded.Tracer
	sdk trace.Tracer
}

// randomRoot is the parent given to the SDK for a span without one. It is not a valid span
// context, so the SDK starts a new trace, but the SDK copies its flags, random among them,
// to the new span.
var randomRoot = trace.SpanContext{}.WithTraceFlags(trace.FlagsRandom)

func (t gatedTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !Enabled() {
		return tracenoop.Tracer{}.Start(ctx, name, opts...)
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, randomRoot)
	}
	return t.sdk.Start(ctx, name, opts...)
}

// gatedSpanProcessor passes ended spans on only while telemetry is on: it drops the spans
// that were already running when the kill switch was turned off.
type gatedSpanProcessor struct {
	sdktrace.SpanProcessor
}

func (p gatedSpanProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if Enabled() {
		p.SpanProcessor.OnEnd(s)
	}
}

// gatedLogProcessor passes log records on only while telemetry is on. Reporting itself as
// not enabled lets the slog bridge skip building records at all.
type gatedLogProcessor struct {
	sdklog.Processor
}

func (p gatedLogProcessor) Enabled(ctx context.Context, param sdklog.EnabledParameters) bool {
	return Enabled() && p.Processor.Enabled(ctx, param)
}

func (p gatedLogProcessor) OnEmit(ctx context.Context, r *sdklog.Record) error {
	if !Enabled() {
		return nil
	}
	return p.Processor.OnEmit(ctx, r)
}

// gatedMetricExporter discards metric exports while telemetry is off. Instruments keep
// aggregating, so cumulative sums stay right once the switch is back on.
type gatedMetricExporter struct {
	sdkmetric.Exporter
}

func (e gatedMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if !Enabled() {
		return nil
	}
	return e.Exporter.Export(ctx, rm)
}
