package telemetry

import "go.opentelemetry.io/otel/attribute"

// The organisation's attribute registry. Use these keys instead of string literals so that
// every service spells an attribute the same way.
const (
	// AcmeTeamKey is the string attribute acme.team.
	//
	// Team that owns the service.
	AcmeTeamKey = attribute.Key("acme.team")

	// AcmeOwnerKey is the string attribute acme.owner.
	//
	// Contact that answers for the service.
	AcmeOwnerKey = attribute.Key("acme.owner")

	// AcmeTenantIDKey is the string attribute acme.tenant.id.
	//
	// Tenant on whose behalf a request runs.
	AcmeTenantIDKey = attribute.Key("acme.tenant.id")

	// AcmeRequestPriorityKey is the int attribute acme.request.priority.
	//
	// Scheduling priority of a request, 0 (lowest) to 9.
	AcmeRequestPriorityKey = attribute.Key("acme.request.priority")

	// AcmeFeatureEnabledKey is the bool attribute acme.feature.enabled.
	//
	// Whether the request ran behind a feature flag.
	AcmeFeatureEnabledKey = attribute.Key("acme.feature.enabled")
)

// AcmeTeam returns the acme.team attribute set to val.
func AcmeTeam(val string) attribute.KeyValue {
	return AcmeTeamKey.String(val)
}

// AcmeOwner returns the acme.owner attribute set to val.
func AcmeOwner(val string) attribute.KeyValue {
	return AcmeOwnerKey.String(val)
}

// AcmeTenantID returns the acme.tenant.id attribute set to val.
func AcmeTenantID(val string) attribute.KeyValue {
	return AcmeTenantIDKey.String(val)
}

// AcmeRequestPriority returns the acme.request.priority attribute set to val.
func AcmeRequestPriority(val int) attribute.KeyValue {
	return AcmeRequestPriorityKey.Int(val)
}

// AcmeFeatureEnabled returns the acme.feature.enabled attribute set to val.
func AcmeFeatureEnabled(val bool) attribute.KeyValue {
	return AcmeFeatureEnabledKey.Bool(val)
}
