package telemetry

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/samplers/jaegerremote"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// headRatio returns the ratio the roots of a service running in environment are sampled
// with.
func headRatio(environment string) float64 {
	if ratio, ok := environmentRatios[environment]; ok {
		return ratio
	}
	return defaultRatio
}

// parentBasedSampling reports that the sampler follows the sampling decision of a span's
// parent, as the organisation's does: the spans of a request that its caller did not sample
// are dropped.
var parentBasedSampling atomic.Bool

// rootRatio is the ratio roots are sampled with. [Setup] sets it; [SetSamplingRatio], the
// admin endpoint and the flags file change it while the service runs.
var rootRatio ratio

// ratio is a sampling ratio that may change while spans are being sampled.
type ratio struct {
	bits atomic.Uint64
}

func (r *ratio) Load() float64 {
	return math.Float64frombits(r.bits.Load())
}

func (r *ratio) Store(v float64) {
	r.bits.Store(math.Float64bits(v))
}

// formatRatio formats a ratio or a rate in as few digits as it takes.
func formatRatio(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// validRatio reports whether v is a sampling ratio.
func validRatio(v float64) bool {
	return v >= 0 && v <= 1
}

// ratioSampler samples the share of traces that rootRatio says, deciding on the trace ID
// exactly like the SDK's TraceIDRatioBased, so that every service of either language makes
// the same decision for the same trace. Unlike TraceIDRatioBased, the share can change
// without a restart.
type ratioSampler struct{}

func (ratioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	result := sdktrace.SamplingResult{
		Decision:   sdktrace.Drop,
		Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState(),
	}
	// Bytes 8 to 15 are the part of a trace ID that W3C Trace Context Level 2 requires to
	// be random.
	if binary.BigEndian.Uint64(p.TraceID[8:16])>>1 < uint64(rootRatio.Load()*(1<<63)) {
		result.Decision = sdktrace.RecordAndSample
	}
	return result
}

func (ratioSampler) Description() string {
	return "TraceIDRatioBased{" + formatRatio(rootRatio.Load()) + "}"
}

// rateLimited samples what root samples, but at most limit traces a second: a token bucket
// that holds up to limit tokens and gains limit tokens a second, one spent per sampled trace.
type rateLimited struct {
	root  sdktrace.Sampler
	limit float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newRateLimited(root sdktrace.Sampler, limit int) *rateLimited {
	return &rateLimited{root: root, limit: float64(limit), tokens: float64(limit), last: time.Now()}
}

func (s *rateLimited) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	result := s.root.ShouldSample(p)
	if result.Decision == sdktrace.RecordAndSample && !s.take() {
		result = sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: result.Tracestate}
	}
	return result
}

// take spends a token if there is one.
func (s *rateLimited) take() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.tokens = min(s.limit, s.tokens+now.Sub(s.last).Seconds()*s.limit)
	s.last = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

func (s *rateLimited) Description() string {
	return "RateLimited{" + s.root.Description() + "," + formatRatio(s.limit) + "/s}"
}

// rootTraceLimit is maxRootTracesPerSecond, in a variable so that tests can change it.
var rootTraceLimit = maxRootTracesPerSecond

// policyRoot is the organisation's root sampler: rootRatio, capped at rootTraceLimit.
func policyRoot() sdktrace.Sampler {
	if rootTraceLimit > 0 {
		return newRateLimited(ratioSampler{}, rootTraceLimit)
	}
	return ratioSampler{}
}

// newSampler returns the sampler of the tracer provider and the function that stops it.
// It is the organisation's, ParentBased(RateLimited(TraceIDRatioBased)) at the ratio of
// environment (or the Jaeger remote sampler when the policy turns it on), unless
// OTEL_TRACES_SAMPLER names another. The fixed samplers always_on and always_off are
// ratios 1 and 0, so that the ratio can be changed at run time whatever the sampler.
func newSampler(serviceName, environment string, warn warnFunc) (sdktrace.Sampler, func()) {
	rootRatio.Store(headRatio(environment))
	name := strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER")))
	arg := strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG"))
	parentBased := strings.HasPrefix(name, "parentbased_")
	var root sdktrace.Sampler = ratioSampler{}
	stop := func() {}
	switch strings.TrimPrefix(name, "parentbased_") {
	case "always_on":
		rootRatio.Store(1)
	case "always_off":
		rootRatio.Store(0)
	case "traceidratio":
		rootRatio.Store(ratioArg(arg, warn))
	case "jaeger_remote":
		endpoint, interval := remoteArgs(arg, warn)
		root, stop = newRemoteSampler(serviceName, endpoint, interval)
	default:
		if name != "" {
			warn("telemetry: unsupported OTEL_TRACES_SAMPLER, using the organisation's sampler", "value", name)
		}
		parentBased = true
		root = policyRoot()
		if remoteSampling {
			root, stop = newRemoteSampler(serviceName, remoteSamplingEndpoint, remotePollInterval)
		}
	}
	parentBasedSampling.Store(parentBased)
	if parentBased {
		return sdktrace.ParentBased(root), stop
	}
	return root, stop
}

// ratioArg reads the ratio of OTEL_TRACES_SAMPLER_ARG; without a valid one, roots keep the
// ratio of the environment.
func ratioArg(arg string, warn warnFunc) float64 {
	if arg == "" {
		return rootRatio.Load()
	}
	v, err := strconv.ParseFloat(arg, 64)
	if err != nil || !validRatio(v) {
		warn("telemetry: OTEL_TRACES_SAMPLER_ARG is not a ratio from 0 to 1, using the organisation's ratio",
			"value", arg, "ratio", rootRatio.Load())
		return rootRatio.Load()
	}
	return v
}

// remoteArgs reads OTEL_TRACES_SAMPLER_ARG of the Jaeger remote sampler, as the OpenTelemetry
// specification defines it: endpoint=URL,pollingIntervalMs=N,initialSamplingRate=R. What it
// does not set comes from the policy. initialSamplingRate sets the ratio used until a
// strategy arrives.
func remoteArgs(arg string, warn warnFunc) (endpoint string, interval time.Duration) {
	endpoint, interval = remoteSamplingEndpoint, remotePollInterval
	for field := range strings.SplitSeq(arg, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(field), "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "":
			continue
		case "endpoint":
			if u, err := url.Parse(value); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				endpoint = value
				continue
			}
		case "pollingIntervalMs":
			if ms, err := strconv.Atoi(value); err == nil && ms > 0 {
				interval = time.Duration(ms) * time.Millisecond
				continue
			}
		case "initialSamplingRate":
			if v, err := strconv.ParseFloat(value, 64); err == nil && validRatio(v) {
				rootRatio.Store(v)
				continue
			}
		}
		warn("telemetry: ignoring an OTEL_TRACES_SAMPLER_ARG field of the Jaeger remote sampler", "field", field)
	}
	return endpoint, interval
}

// remoteSampler samples roots with the strategy that the Jaeger remote sampler fetched from
// the agent collector, and with the organisation's root sampler while it has none: before
// the first strategy arrives and while the endpoint cannot be reached.
type remoteSampler struct {
	remote   *jaegerremote.Sampler
	fallback sdktrace.Sampler
	fetcher  *strategyFetcher
}

func newRemoteSampler(serviceName, endpoint string, interval time.Duration) (*remoteSampler, func()) {
	fallback := policyRoot()
	ctx, cancel := context.WithCancel(context.Background())
	fetcher := &strategyFetcher{ctx: ctx, endpoint: endpoint, client: &http.Client{Timeout: exportTimeout}}
	remote := jaegerremote.New(serviceName,
		jaegerremote.WithSamplingStrategyFetcher(fetcher),
		jaegerremote.WithSamplingRefreshInterval(interval),
		jaegerremote.WithInitialSampler(fallback),
		// The jaeger.sampler.* span attributes are not in the organisation's registry.
		jaegerremote.WithAttributesDisabled(),
	)
	stop := func() {
		// Cancelling first ends a fetch in flight, which Close would otherwise wait for.
		cancel()
		remote.Close()
	}
	return &remoteSampler{remote: remote, fallback: fallback, fetcher: fetcher}, stop
}

func (s *remoteSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if s.fetcher.reachable() {
		return s.remote.ShouldSample(p)
	}
	return s.fallback.ShouldSample(p)
}

func (s *remoteSampler) Description() string {
	return "JaegerRemote{" + s.fetcher.endpoint + ",fallback:" + s.fallback.Description() + "}"
}

// strategyFetcher fetches the sampling strategy of a service from a Jaeger remote sampling
// endpoint and remembers whether the last fetch worked.
type strategyFetcher struct {
	// ctx ends the fetches when the sampler stops: jaegerremote passes Fetch no context.
	ctx      context.Context
	endpoint string
	client   *http.Client

	// state is 0 before the first fetch, then 1 after a fetch that worked and 2 after one
	// that did not.
	state atomic.Int32
}

func (f *strategyFetcher) reachable() bool {
	return f.state.Load() == 1
}

func (f *strategyFetcher) Fetch(serviceName string) ([]byte, error) {
	body, err := f.fetch(serviceName)
	if f.ctx.Err() != nil {
		// The sampler is stopping: that is no news about the endpoint.
		return nil, f.ctx.Err()
	}
	state := int32(1)
	if err != nil {
		state = 2
	}
	// Only a change is logged: an agent that is down is reported once, not every poll.
	if f.state.Swap(state) != state {
		if err != nil {
			slog.Warn("telemetry: remote sampling endpoint unreachable, sampling with the organisation's ratio",
				"endpoint", f.endpoint, "error", err)
		} else {
			slog.Info("telemetry: sampling with the strategy of the remote sampling endpoint", "endpoint", f.endpoint)
		}
	}
	return body, err
}

func (f *strategyFetcher) fetch(serviceName string) ([]byte, error) {
	u, err := url.Parse(f.endpoint)
	if err != nil {
		return nil, err
	}
	query := u.Query()
	query.Set("service", serviceName)
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sampling endpoint answered %s", resp.Status)
	}
	return body, nil
}
