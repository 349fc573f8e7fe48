package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/log/global"
	lognoop "go.opentelemetry.io/otel/log/noop"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Defaults rendered from the service answers and the organisation policy.
const (
	defaultServiceName = "orders"
	serviceNamespace   = "acme"
	defaultEnvironment = "dev"
	team               = "platform"
	owner              = "platform@acme.example"

	// defaultSamplingRatio is the probability that a root span is sampled; children follow
	// their parent. OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG replace it.
	defaultSamplingRatio = 1.0

	// shutdownTimeout bounds the flush and shutdown of all providers together.
	shutdownTimeout = 5000 * time.Millisecond
)

// Config configures [Setup]. The zero value is ready to use: every field has a default.
type Config struct {
	// ServiceName is the service.name resource attribute. Default: "orders".
	// OTEL_SERVICE_NAME overrides it.
	ServiceName string

	// ServiceVersion is the service.version resource attribute. Default: [Version].
	ServiceVersion string

	// Environment is the deployment.environment.name resource attribute. Default: "dev".
	// OTEL_RESOURCE_ATTRIBUTES overrides it.
	Environment string

	// SpanProcessor, when set, replaces the batching OTLP span exporter. It is meant for
	// tests, which pass a [go.opentelemetry.io/otel/sdk/trace/tracetest.SpanRecorder].
	SpanProcessor sdktrace.SpanProcessor

	// MetricReader, when set, replaces the periodic OTLP metric reader. It is meant for
	// tests, which pass a [sdkmetric.ManualReader].
	MetricReader sdkmetric.Reader

	// LogProcessor, when set, replaces the batching OTLP log exporter. It is meant for
	// tests, which pass a processor that keeps the records in memory.
	LogProcessor sdklog.Processor
}

// Setup configures OpenTelemetry for the process: it builds the resource, the tracer,
// meter and logger providers with their OTLP exporters, installs them and the propagators
// as the globals, and returns the function that flushes and shuts them all down.
//
// Call shutdown once, when the process stops. It shuts every provider down in parallel
// and gives up after 5000ms (the organisation's shutdown deadline), whatever
// the deadline of ctx.
//
// With OTEL_SDK_DISABLED=true, Setup installs no-op providers, [Enabled] reports false and
// shutdown does nothing: the SDK itself does not read that variable.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	if sdkDisabled() {
		disabled.Store(true)
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		global.SetLoggerProvider(lognoop.NewLoggerProvider())
		return func(context.Context) error { return nil }, nil
	}
	disabled.Store(false)

	propagator, err := newPropagator()
	if err != nil {
		return nil, err
	}
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}

	var shutdowns []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
		defer cancel()

		errs := make([]error, len(shutdowns))
		var wg sync.WaitGroup
		for i, fn := range shutdowns {
			wg.Go(func() { errs[i] = fn(ctx) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	// Shut down what was already built if a later step fails.
	defer func() {
		if err != nil {
			err = errors.Join(err, shutdown(ctx))
		}
	}()

	tracerProvider, err := newTracerProvider(ctx, cfg, res)
	if err != nil {
		return nil, err
	}
	shutdowns = append(shutdowns, tracerProvider.Shutdown)

	meterProvider, err := newMeterProvider(ctx, cfg, res)
	if err != nil {
		return nil, err
	}
	shutdowns = append(shutdowns, meterProvider.Shutdown)

	loggerProvider, err := newLoggerProvider(ctx, cfg, res)
	if err != nil {
		return nil, err
	}
	shutdowns = append(shutdowns, loggerProvider.Shutdown)

	// Export failures are reported as JSON lines on stderr. They must not go through the
	// OpenTelemetry log bridge: a failing log export would log its own failure.
	errorLogger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		errorLogger.Warn("opentelemetry", "error", err)
	}))
	otel.SetTextMapPropagator(propagator)
	otel.SetTracerProvider(tracerProvider)
	otel.SetMeterProvider(meterProvider)
	global.SetLoggerProvider(loggerProvider)
	return shutdown, nil
}

// sdkDisabled reports whether OTEL_SDK_DISABLED asks for telemetry to be off.
func sdkDisabled() bool {
	off, _ := strconv.ParseBool(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")))
	return off
}

// newResource describes the service. Attributes from OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES win over the defaults because they are detected last.
func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	name := cmp.Or(cfg.ServiceName, defaultServiceName)
	version := cmp.Or(cfg.ServiceVersion, Version)
	environment := cmp.Or(cfg.Environment, defaultEnvironment)

	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			semconv.ServiceName(name),
			semconv.ServiceNamespace(serviceNamespace),
			semconv.ServiceVersion(version),
			semconv.DeploymentEnvironmentNameKey.String(environment),
			AcmeTeam(team),
			AcmeOwner(owner),
		),
		resource.WithFromEnv(),
	)
	if errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES must not keep the service from starting:
		// report it and keep the attributes that could be read.
		otel.Handle(err)
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: build resource: %w", err)
	}
	return res, nil
}

// newPropagator returns the propagators named by OTEL_PROPAGATORS or, when it is unset, the
// organisation's default (tracecontext, baggage).
func newPropagator() (propagation.TextMapPropagator, error) {
	if os.Getenv("OTEL_PROPAGATORS") != "" {
		return autoprop.NewTextMapPropagator(), nil
	}
	propagator, err := autoprop.TextMapPropagator("tracecontext", "baggage")
	if err != nil {
		return nil, fmt.Errorf("telemetry: build propagators: %w", err)
	}
	return propagator, nil
}

func newTracerProvider(ctx context.Context, cfg Config, res *resource.Resource) (*sdktrace.TracerProvider, error) {
	processor := cfg.SpanProcessor
	if processor == nil {
		exporter, err := newSpanExporter(ctx)
		if err != nil {
			return nil, err
		}
		// Without WithBlocking the processor drops spans when its queue is full, so a slow
		// collector costs telemetry, never request latency or unbounded memory.
		processor = sdktrace.NewBatchSpanProcessor(exporter,
			sdktrace.WithMaxQueueSize(maxQueueSize),
			sdktrace.WithMaxExportBatchSize(maxExportBatchSize),
			sdktrace.WithBatchTimeout(scheduleDelay),
		)
	}

	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		// The sampler below stops new spans while the kill switch is off; this gate also
		// covers a sampler taken from OTEL_TRACES_SAMPLER, which cannot be wrapped, and
		// spans that were already running when the switch was turned off.
		sdktrace.WithSpanProcessor(gatedSpanProcessor{processor}),
	}
	// An explicit sampler would win over OTEL_TRACES_SAMPLER, so the organisation's default
	// is only set when the variable is not: the SDK then reads it together with
	// OTEL_TRACES_SAMPLER_ARG.
	if os.Getenv("OTEL_TRACES_SAMPLER") == "" {
		opts = append(opts, sdktrace.WithSampler(killSwitchSampler{
			base: sdktrace.ParentBased(sdktrace.TraceIDRatioBased(defaultSamplingRatio)),
		}))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

func newMeterProvider(ctx context.Context, cfg Config, res *resource.Resource) (*sdkmetric.MeterProvider, error) {
	reader := cfg.MetricReader
	if reader == nil {
		exporter, err := newMetricExporter(ctx)
		if err != nil {
			return nil, err
		}
		// The export interval comes from OTEL_METRIC_EXPORT_INTERVAL (default 60s).
		reader = sdkmetric.NewPeriodicReader(gatedMetricExporter{exporter})
	}
	// Exemplars are on by default: measurements made inside a sampled span carry its
	// trace and span ID, which links a latency bucket to an example trace.
	return sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(reader),
	), nil
}

func newLoggerProvider(ctx context.Context, cfg Config, res *resource.Resource) (*sdklog.LoggerProvider, error) {
	processor := cfg.LogProcessor
	if processor == nil {
		exporter, err := newLogExporter(ctx)
		if err != nil {
			return nil, err
		}
		// Like the span processor, the log batch processor drops the oldest records when
		// its queue is full instead of blocking the caller.
		processor = sdklog.NewBatchProcessor(exporter,
			sdklog.WithMaxQueueSize(maxQueueSize),
			sdklog.WithExportMaxBatchSize(maxExportBatchSize),
			sdklog.WithExportInterval(scheduleDelay),
		)
	}
	return sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithProcessor(gatedLogProcessor{processor}),
	), nil
}
