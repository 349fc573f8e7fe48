package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// SetRoute records the route template that a router other than [http.ServeMux] matched for
// r, such as "/items/{id}", so that the request is named and measured by its route as a
// ServeMux route is: the server span of [Middleware] is renamed after the policy
// ("{method} {route}") and gets the http.route attribute, and so do the
// request's metrics. An empty route changes nothing.
//
// Call it from the router's own middleware once the route is known. With gorilla/mux, whose
// middleware runs after the route matched:
//
//	router.Use(func(next http.Handler) http.Handler {
//		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			if route := mux.CurrentRoute(r); route != nil {
//				if template, err := route.GetPathTemplate(); err == nil {
//					telemetry.SetRoute(r, template)
//				}
//			}
//			next.ServeHTTP(w, r)
//		})
//	})
//
// With chi, whose route pattern is complete only once the request has been routed through
// every sub-router:
//
//	router.Use(func(next http.Handler) http.Handler {
//		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			next.ServeHTTP(w, r)
//			telemetry.SetRoute(r, chi.RouteContext(r.Context()).RoutePattern())
//		})
//	})
func SetRoute(r *http.Request, route string) {
	if route == "" {
		return
	}
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetName(spanName(r.Method, route))
		span.SetAttributes(semconv.HTTPRoute(route))
	}
	// otelhttp records its metrics after the handler returns, with the labeler's attributes.
	if labeler, ok := otelhttp.LabelerFromContext(r.Context()); ok {
		labeler.Add(semconv.HTTPRoute(route))
	}
}
