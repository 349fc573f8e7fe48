package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log/global"
	lognoop "go.opentelemetry.io/otel/log/noop"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// The service as it was generated. OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override
// these at run time.
const (
	defaultServiceName = "orders"
	serviceNamespace   = "acme"
	defaultEnvironment = "dev"
	team               = "platform"
	owner              = "platform@acme.example"
)

// Config configures [Setup]. The zero value is ready to use: every field has a default.
type Config struct {
	// ServiceName is the service.name resource attribute. Default: "orders". OTEL_SERVICE_NAME
	// overrides it.
	ServiceName string

	// ServiceVersion is the service.version resource attribute. Default: [Version].
	ServiceVersion string

	// Environment is the deployment.environment.name resource attribute, and chooses the
	// sampling ratio. Default: the deployment.environment.name of OTEL_RESOURCE_ATTRIBUTES,
	// else "dev".
	Environment string

	// SpanProcessor, when set, replaces the batching span exporters. It is meant for tests,
	// which pass a [go.opentelemetry.io/otel/sdk/trace/tracetest.SpanRecorder].
	SpanProcessor sdktrace.SpanProcessor

	// MetricReader, when set, replaces the periodic metric readers. It is meant for tests,
	// which pass a [sdkmetric.ManualReader].
	MetricReader sdkmetric.Reader

	// LogProcessor, when set, replaces the batching log exporters. It is meant for tests,
	// which pass a processor that keeps the records in memory.
	LogProcessor sdklog.Processor
}

// Setup configures OpenTelemetry for the process: it builds the resource, the tracer,
// meter and logger providers with their exporters, installs them and the propagators as
// the globals, starts the admin listener and the watcher of the flags file, and returns the
// function that flushes and stops them all.
//
// Call shutdown once, when the process stops. It stops everything in parallel and gives up
// after the organisation's shutdown deadline, whatever the deadline of ctx.
//
// A bad telemetry setting never keeps the service from starting: Setup logs a warning and
// falls back to the organisation's default, or leaves that exporter out.
//
// With OTEL_SDK_DISABLED=true, which the SDK itself does not read, Setup installs no-op
// providers and [Enabled] reports false. The propagators are installed all the same: a
// request's trace context still reaches its outgoing calls.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	warn := onceEach()
	off := sdkDisabled(warn)
	disabled.Store(off)
	switchedOff.Store(false)
	otel.SetTextMapPropagator(newPropagator(warn))

	var stops []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
		defer cancel()

		errs := make([]error, len(stops))
		var wg sync.WaitGroup
		for i, stop := range stops {
			wg.Go(func() { errs[i] = stop(ctx) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}

	if off {
		installNoop()
		// The service.name the resource would have, for the log lines.
		res, _ := resource.New(ctx,
			resource.WithAttributes(semconv.ServiceName(cmp.Or(cfg.ServiceName, defaultServiceName))),
			resource.WithFromEnv(),
		)
		name := resourceValue(res, semconv.ServiceNameKey)
		serviceName.Store(&name)
	} else {
		sdkStops, err := installSDK(ctx, cfg, warn)
		if err != nil {
			return nil, err
		}
		stops = append(stops, sdkStops...)
	}
	stops = append(stops, startControls(warn)...)
	return shutdown, nil
}

// installNoop installs the no-op providers of OTEL_SDK_DISABLED=true. Their tracers hand
// back the span context of the parent, so context flows through the service unchanged.
func installNoop() {
	otel.SetTracerProvider(tracenoop.NewTracerProvider())
	otel.SetMeterProvider(metricnoop.NewMeterProvider())
	global.SetLoggerProvider(lognoop.NewLoggerProvider())
	rootRatio.Store(0)
	setActiveSampler(sdktrace.NeverSample())
}

// installSDK builds the SDK's providers, installs them and returns their stop functions.
func installSDK(ctx context.Context, cfg Config, warn warnFunc) ([]func(context.Context) error, error) {
	res, err := newResource(ctx, cfg, warn)
	if err != nil {
		return nil, err
	}
	environment := resourceValue(res, semconv.DeploymentEnvironmentNameKey)
	name := resourceValue(res, semconv.ServiceNameKey)
	serviceName.Store(&name)
	sampler, stopSampler := newSampler(name, environment, warn)
	setActiveSampler(sampler)

	// The SDK reads OTEL_TRACES_SAMPLER too and reports the names it does not know, such as
	// parentbased_jaeger_remote. newSampler has read and reported it already, so the SDK's
	// reports are dropped while the providers are built.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	tracers := newTracerProvider(ctx, cfg, res, sampler, warn)
	meters := newMeterProvider(ctx, cfg, res, warn)
	loggers := newLoggerProvider(ctx, cfg, res, warn)
	otel.SetErrorHandler(newErrorReporter())

	otel.SetTracerProvider(gatedTracerProvider{sdk: tracers})
	otel.SetMeterProvider(meters)
	global.SetLoggerProvider(loggers)
	slog.Info("telemetry set up", "environment", environment, "sampling_ratio", rootRatio.Load(),
		"sampler", sampler.Description())
	return []func(context.Context) error{
		tracers.Shutdown,
		meters.Shutdown,
		loggers.Shutdown,
		func(context.Context) error {
			stopSampler()
			return nil
		},
	}, nil
}

// warnFunc logs a problem with a telemetry setting.
type warnFunc func(msg string, args ...any)

// onceEach returns a warnFunc that logs each distinct warning once, so that a setting that
// concerns every signal is reported once, not once per signal.
func onceEach() warnFunc {
	seen := map[string]bool{}
	return func(msg string, args ...any) {
		key := fmt.Sprint(append([]any{msg}, args...)...)
		if !seen[key] {
			seen[key] = true
			slog.Warn(msg, args...)
		}
	}
}

// sdkDisabled reads OTEL_SDK_DISABLED as the specification says: true when the value,
// trimmed, is "true" in any case. Any other value is false, and one that is not "false"
// is reported.
func sdkDisabled(warn warnFunc) bool {
	v := strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED"))
	if strings.EqualFold(v, "true") {
		return true
	}
	if v != "" && !strings.EqualFold(v, "false") {
		warn("telemetry: OTEL_SDK_DISABLED is neither true nor false, telemetry stays on", "value", v)
	}
	return false
}

func setActiveSampler(s sdktrace.Sampler) {
	activeSampler.Store(&s)
}

// newResource describes the service and the process it runs in. Attributes from
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults and the detected ones
// because they are read later; the environment set in code wins over all, because it also
// chooses the sampling ratio.
//
// The process is described by its PID and executable name, never by its command line, which
// can carry credentials.
func newResource(ctx context.Context, cfg Config, warn warnFunc) (*resource.Resource, error) {
	opts := []resource.Option{
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		// service.instance.id: a random UUID, so that the processes of one service are told
		// apart. It also brings a default service.name, which the next option replaces.
		resource.WithService(),
		resource.WithAttributes(
			semconv.ServiceName(cmp.Or(cfg.ServiceName, defaultServiceName)),
			semconv.ServiceNamespace(serviceNamespace),
			semconv.ServiceVersion(cmp.Or(cfg.ServiceVersion, Version)),
			semconv.DeploymentEnvironmentNameKey.String(defaultEnvironment),
			AcmeTeam(team),
			AcmeOwner(owner),
		),
		resource.WithHost(),
		resource.WithOSType(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithContainerID(),
		resource.WithFromEnv(),
	}
	if cfg.Environment != "" {
		opts = append(opts, resource.WithAttributes(semconv.DeploymentEnvironmentNameKey.String(cfg.Environment)))
	}
	res, err := resource.New(ctx, opts...)
	if errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES, or a detector that failed, must not keep the
		// service from starting: report it and keep the attributes that could be read.
		warn("telemetry: resource only partly built, check OTEL_RESOURCE_ATTRIBUTES", "error", err)
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: build resource: %w", err)
	}
	return res, nil
}

// resourceValue returns the string value of key in res.
func resourceValue(res *resource.Resource, key attribute.Key) string {
	v, _ := res.Set().Value(key)
	return v.AsString()
}

func newTracerProvider(ctx context.Context, cfg Config, res *resource.Resource, sampler sdktrace.Sampler, warn warnFunc) *sdktrace.TracerProvider {
	processors := []sdktrace.SpanProcessor{cfg.SpanProcessor}
	if cfg.SpanProcessor == nil {
		processors = newSpanProcessors(ctx, warn)
	}
	// The sampler is always set, so that OTEL_TRACES_SAMPLER means what newSampler made of it.
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	for _, p := range processors {
		opts = append(opts, sdktrace.WithSpanProcessor(gatedSpanProcessor{p}))
	}
	return sdktrace.NewTracerProvider(opts...)
}

func newMeterProvider(ctx context.Context, cfg Config, res *resource.Resource, warn warnFunc) *sdkmetric.MeterProvider {
	readers := []sdkmetric.Reader{cfg.MetricReader}
	if cfg.MetricReader == nil {
		readers = newMetricReaders(ctx, warn)
	}
	// Exemplars are on by default: measurements made inside a sampled span carry its
	// trace and span ID, which links a latency bucket to an example trace.
	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithView(views()...)}
	for _, r := range readers {
		opts = append(opts, sdkmetric.WithReader(r))
	}
	return sdkmetric.NewMeterProvider(opts...)
}

func newLoggerProvider(ctx context.Context, cfg Config, res *resource.Resource, warn warnFunc) *sdklog.LoggerProvider {
	processors := []sdklog.Processor{cfg.LogProcessor}
	if cfg.LogProcessor == nil {
		processors = newLogProcessors(ctx, warn)
	}
	opts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	for _, p := range processors {
		opts = append(opts, sdklog.WithProcessor(gatedLogProcessor{p}))
	}
	return sdklog.NewLoggerProvider(opts...)
}

// startControls starts what changes the settings while the service runs: the admin listener
// and, when TELEMETRY_FLAGS_FILE names one, the watcher of the flags file. The file is read
// once before Setup returns, so that the first request already sees its settings.
func startControls(warn warnFunc) []func(context.Context) error {
	var stops []func(context.Context) error
	if stop := serveAdmin(warn); stop != nil {
		stops = append(stops, stop)
	}
	if path := strings.TrimSpace(os.Getenv("TELEMETRY_FLAGS_FILE")); path != "" {
		ctx, cancel := context.WithCancel(context.Background())
		w := &flagWatcher{name: "file", who: []any{"path", path}, source: flagsFile(path)}
		w.poll(ctx)
		go w.run(ctx)
		stops = append(stops, func(context.Context) error {
			cancel()
			return nil
		})
	}
	return stops
}

// errorReporter reports the errors of the SDK, such as failed exports, as JSON lines on
// stderr. They must not go through the OpenTelemetry log bridge: a failing log export would
// log its own failure. While the collector is down every export fails the same way, so an
// error is reported once a minute, with the number of repeats left out since.
type errorReporter struct {
	logger *slog.Logger

	mu       sync.Mutex
	reported map[string]time.Time
	repeats  map[string]int
}

func newErrorReporter() *errorReporter {
	return &errorReporter{
		logger:   slog.New(slog.NewJSONHandler(os.Stderr, nil)),
		reported: map[string]time.Time{},
		repeats:  map[string]int{},
	}
}

func (r *errorReporter) Handle(err error) {
	message := err.Error()
	r.mu.Lock()
	now := time.Now()
	if at, ok := r.reported[message]; ok && now.Sub(at) < time.Minute {
		r.repeats[message]++
		r.mu.Unlock()
		return
	}
	if len(r.reported) > 100 {
		// Errors that name changing things (addresses, sizes) must not grow the maps forever.
		clear(r.reported)
		clear(r.repeats)
	}
	repeats := r.repeats[message]
	r.reported[message] = now
	delete(r.repeats, message)
	r.mu.Unlock()
	r.logger.Warn("opentelemetry", "error", err, "repeats", repeats)
}
