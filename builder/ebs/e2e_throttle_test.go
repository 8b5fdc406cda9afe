//go:build e2e

package ebs_test

import (
	"testing"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// TestE2EBakeSurvivesThrottlingAndErrors: 30 % throttling, 10 % 5xx and
// 5 % dropped connections on every call.
func TestE2EBakeSurvivesThrottlingAndErrors(t *testing.T) {
	proxy := withFaults(t, faultproxy.Config{
		Seed:        42,
		Throttle:    faultproxy.Fault{Rate: 0.3},
		ServerError: faultproxy.Fault{Rate: 0.1},
		Drop:        faultproxy.Fault{Rate: 0.05},
	})
	b := newBake(t, "true")
	if _, err := b.run(); err != nil {
		t.Fatalf("packer build failed under injected faults: %v", err)
	}
	injected := proxy.Injected()
	t.Logf("faults injected: %v", injected)
	if injected[faultproxy.KindThrottle] == 0 || injected[faultproxy.KindServerError] == 0 {
		t.Fatalf("too few faults injected (%v) for the test to mean anything", injected)
	}
	// The checks below talk to the emulator too, without the faults.
	if err := proxy.SetConfig(faultproxy.Config{}); err != nil {
		t.Fatal(err)
	}
	assertOneBake(t, ec2Client(t), b.amiName)
}
