package memlayer_test

import (
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/objapi/memlayer"
	"github.com/kommunal-cloud/kcs/node/objapi/objtest"
)

// TestConformance runs the object layer's conformance suite against the
// in-memory layer; node's tests run the same suite against a real
// cluster.
func TestConformance(t *testing.T) {
	objtest.Run(t, func(t *testing.T) objtest.Env {
		l := memlayer.New(time.Now)
		return objtest.Env{
			Layer:       l,
			Caller:      objapi.Caller{Tenant: "gemeinde-a", AccessKey: "AKIATENANTA000000001"},
			Other:       objapi.Caller{Tenant: "landkreis-b", AccessKey: "AKIATENANTB000000001"},
			Colleague:   objapi.Caller{Tenant: "gemeinde-a", AccessKey: "AKIATENANTA000000002"},
			Versioning:  true,
			AllowBypass: l.AllowBypass,
		}
	})
}
