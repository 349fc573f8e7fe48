package telemetry

import "time"

// environmentRatios are the organisation's head sampling ratios per deployment environment.
// The whole table is compiled in: [Setup] picks the ratio of the environment the service
// runs in when it starts.
var environmentRatios = map[string]float64{
	"dev":     1.0,
	"prod":    1.0,
	"staging": 1.0,
}

// defaultRatio is the head sampling ratio of an environment the table does not list.
const defaultRatio = 0.1

// Adaptive and remote sampling.
const (
	// maxRootTracesPerSecond caps the root traces this process samples per second, whatever
	// the ratio; children follow their parent. 0 turns the cap off.
	maxRootTracesPerSecond = 100

	// remoteSampling turns on the Jaeger remote sampler, which polls remoteSamplingEndpoint
	// for the sampling strategy of the service. OTEL_TRACES_SAMPLER=parentbased_jaeger_remote
	// turns it on at run time.
	remoteSampling         = false
	remoteSamplingEndpoint = "http://localhost:5778/sampling"
	remotePollInterval     = time.Minute
)

// defaultPropagators are the propagators used when OTEL_PROPAGATORS is not set.
var defaultPropagators = []string{"tracecontext", "baggage"}

// Exporter settings.
const (
	// defaultProtocol is the OTLP protocol used when neither OTEL_EXPORTER_OTLP_PROTOCOL nor
	// its per-signal variant is set.
	defaultProtocol = "grpc"

	// exportTimeout bounds one export request, retries included, unless
	// OTEL_EXPORTER_OTLP_TIMEOUT (or its per-signal variant) is set.
	exportTimeout = 5 * time.Second

	// Batching of spans and log records, unless OTEL_BSP_* (spans) or OTEL_BLRP_* (log
	// records) say otherwise. The queue bounds the memory held while the collector is slow or
	// down; what does not fit is dropped.
	maxQueueSize       = 2048
	maxExportBatchSize = 512
	scheduleDelay      = 5 * time.Second
)

// defaultEndpoints are the collector endpoints per protocol, used when neither
// OTEL_EXPORTER_OTLP_ENDPOINT nor its per-signal variant is set.
var defaultEndpoints = map[string]string{
	"grpc":          "http://localhost:4317",
	"http/protobuf": "http://localhost:4318",
}

// exportRetry bounds how long a failed export is retried: after MaxElapsedTime the batch
// is dropped, which keeps a collector outage from piling up data in memory.
var exportRetry = retrySettings{
	Enabled:         true,
	InitialInterval: 500 * time.Millisecond,
	MaxInterval:     2 * time.Second,
	MaxElapsedTime:  5 * time.Second,
}

// Runtime control.
const (
	// shutdownTimeout bounds the flush and shutdown of all providers together.
	shutdownTimeout = 5 * time.Second

	// adminPath is the telemetry admin endpoint, served on the admin listener only.
	adminPath = "/admin/telemetry"

	// defaultAdminAddress is where the admin listener listens unless TELEMETRY_ADMIN_ADDR
	// says otherwise.
	defaultAdminAddress = "127.0.0.1:8081"

	// flagsPollInterval is how often TELEMETRY_FLAGS_FILE, and every [FlagSource] given to
	// [WatchFlags], is read again.
	flagsPollInterval = 2 * time.Second
)
