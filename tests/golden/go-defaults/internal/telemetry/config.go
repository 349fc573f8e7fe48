package telemetry

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// config is the configuration shared by the instrumentation helpers of this package.
type config struct {
	tracerProvider  trace.TracerProvider
	meterProvider   metric.MeterProvider
	propagators     propagation.TextMapPropagator
	publicEndpoint  bool
	capturedHeaders []string
}

// Option configures the instrumentation helpers of this package, such as [Middleware].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) {
	f(c)
}

func newConfig(opts []Option) *config {
	c := &config{
		capturedHeaders: []string{"user-agent", "x-request-id"},
	}
	for _, opt := range opts {
		opt.apply(c)
	}
	return c
}

// WithTracerProvider sets the tracer provider. Default: the global provider, which
// [Setup] installs: a helper built before Setup follows the provider Setup installs.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		c.tracerProvider = tp
	})
}

// WithMeterProvider sets the meter provider. Default: the global provider, which [Setup]
// installs.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		c.meterProvider = mp
	})
}

// WithPropagators sets the propagators that read and write trace context. Default: the
// global propagators, which [Setup] installs: the policy's defaultPropagators unless
// OTEL_PROPAGATORS says otherwise.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) {
		c.propagators = p
	})
}

// WithPublicEndpoint marks the server as reachable from outside the organisation: a request
// starts a new trace instead of continuing the caller's, and the caller's span, if any, is
// only linked. This keeps clients from choosing the trace ID and the sampling decision; the
// handler's outgoing calls carry the new trace, also while telemetry is off. Default: off,
// the server span is a child of the incoming trace context.
func WithPublicEndpoint() Option {
	return optionFunc(func(c *config) {
		c.publicEndpoint = true
	})
}

// WithCapturedRequestHeaders records the named request headers as
// http.request.header.<name> span attributes, in addition to those the policy names. The
// headers the policy redacts (redactedHeaders) are never recorded, whatever this option asks
// for.
func WithCapturedRequestHeaders(names ...string) Option {
	return optionFunc(func(c *config) {
		for _, name := range names {
			c.capturedHeaders = append(c.capturedHeaders, strings.ToLower(name))
		}
	})
}

// propagator returns the propagators to use: the configured ones, or the global ones as
// they are when they are used, so that helpers built before [Setup] follow it.
func (c *config) propagator() propagation.TextMapPropagator {
	if c.propagators != nil {
		return c.propagators
	}
	return globalPropagator{}
}

// globalPropagator is the global propagator of the moment.
type globalPropagator struct{}

func (globalPropagator) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	otel.GetTextMapPropagator().Inject(ctx, carrier)
}

func (globalPropagator) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, carrier)
}

func (globalPropagator) Fields() []string {
	return otel.GetTextMapPropagator().Fields()
}

func (globalPropagator) extractHeaders(ctx context.Context, h http.Header) (context.Context, bool) {
	return extractHeaders(ctx, otel.GetTextMapPropagator(), h)
}

// tracers returns the tracer provider to use: the configured one, or the global one. Before
// [Setup], the global provider is a delegate that follows the provider Setup installs.
func (c *config) tracers() trace.TracerProvider {
	if c.tracerProvider != nil {
		return c.tracerProvider
	}
	return otel.GetTracerProvider()
}

// meters returns the meter provider to use, like tracers.
func (c *config) meters() metric.MeterProvider {
	if c.meterProvider != nil {
		return c.meterProvider
	}
	return otel.GetMeterProvider()
}
