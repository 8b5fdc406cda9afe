//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// TestE2EBakeSurvivesThrottlingAndErrors: 30 % throttling and 10 % 5xx on
// every call, dropped connections on the first two DescribeInstances, and
// the launch's reply lost (the instance is made, the reply never comes):
// the bake succeeds, launches exactly one instance and leaves nothing. The
// drops and the lost reply hit named calls, not a rate, so every run
// injects them.
func TestE2EBakeSurvivesThrottlingAndErrors(t *testing.T) {
	proxy := withFaults(t, faultproxy.Config{
		Seed:        42,
		Throttle:    faultproxy.Fault{Rate: 0.3},
		ServerError: faultproxy.Fault{Rate: 0.1},
		Drop:        faultproxy.Fault{Rate: 1, Max: 2, Actions: []string{"ec2:DescribeInstances"}},
		LoseReply:   faultproxy.Fault{Rate: 1, Max: 1, Actions: []string{"ec2:RunInstances"}},
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
	if injected[faultproxy.KindDrop] != 2 || injected[faultproxy.KindLoseReply] != 1 {
		t.Fatalf("%d connections dropped and %d replies lost, want 2 and 1: the test proved less than it says", injected[faultproxy.KindDrop], injected[faultproxy.KindLoseReply])
	}
	// The lost reply was answered by a repeat of the launch (with its
	// ClientToken: assertOneBake finds one instance).
	if n := proxy.Count("ec2", "RunInstances"); n < 2 {
		t.Errorf("RunInstances was called %d times: its lost reply was not retried", n)
	}
	// The checks below talk to the emulator too, without the faults.
	if err := proxy.SetConfig(faultproxy.Config{}); err != nil {
		t.Fatal(err)
	}
	assertOneBake(t, ec2Client(t), b.amiName)
}

// TestE2EParallelBakesUnderThrottling: 20 bakes at once in one account with
// 20 % throttling all succeed, each launches exactly one instance, and
// nothing temporary is left. The stock builder loses 1–2 of 10 here, to
// lost replies retried into `…Duplicate` errors.
func TestE2EParallelBakesUnderThrottling(t *testing.T) {
	const n = 20
	proxy := withFaults(t, faultproxy.Config{Throttle: faultproxy.Fault{Rate: 0.2}})
	bakes := make([]*bake, n)
	errs := make(chan error, n)
	for i := range bakes {
		bakes[i] = newBake(t, "true")
	}
	start := time.Now()
	for _, b := range bakes {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			out, err := b.cmd(ctx).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%s: %w\n%s", b.amiName, err, out)
			}
			errs <- err
		}()
	}
	failed := 0
	for range bakes {
		if err := <-errs; err != nil {
			failed++
			t.Error(err)
		}
	}
	t.Logf("%d/%d bakes succeeded in %s; faults injected: %v", n-failed, n, time.Since(start).Round(time.Second), proxy.Injected())
	if proxy.Injected()[faultproxy.KindThrottle] == 0 {
		t.Fatal("no call was throttled: the test proved nothing")
	}
	if err := proxy.SetConfig(faultproxy.Config{}); err != nil {
		t.Fatal(err)
	}
	client := ec2Client(t)
	if got := len(buildInstances(t, client)); got != n {
		t.Errorf("%d instances launched by %d bakes, want exactly one each", got, n)
	}
	for _, b := range bakes {
		if got := len(imagesNamed(t, client, b.amiName)); got != 1 {
			t.Errorf("%d AMIs named %s, want 1", got, b.amiName)
		}
	}
	assertNothingLeft(t, client)
}

// TestE2EOneRunSharesRetries: six bakes in one `packer build` (six plugin
// processes) against an account-wide rate limit all succeed and leave
// nothing. The builds share one retry budget and hold their calls together
// when one of them is throttled (common/runshare.go); the throttle count is
// logged, compared with PACKER_BAKERY_RUN_SHARE=off in `make bench`.
func TestE2EOneRunSharesRetries(t *testing.T) {
	proxy := withFaults(t, faultproxy.Config{RateLimit: faultproxy.RateLimit{PerSecond: 10, Burst: 10}})
	b := newBake(t, "true")
	b.dir = "testdata/one-run"
	start := time.Now()
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build of six sources under a rate limit failed: %v", err)
	}
	throttled := proxy.Injected()[faultproxy.KindThrottle]
	t.Logf("6 bakes in one run: %s, %d calls throttled", time.Since(start).Round(time.Millisecond), throttled)
	if throttled == 0 {
		t.Fatal("no call was over the rate limit: the test proved nothing")
	}
	if err := proxy.SetConfig(faultproxy.Config{}); err != nil {
		t.Fatal(err)
	}
	client := ec2Client(t)
	if got := len(buildInstances(t, client)); got != 6 {
		t.Errorf("%d instances launched by 6 bakes, want exactly one each", got)
	}
	for i := 1; i <= 6; i++ {
		name := fmt.Sprintf("%s-b%d", b.amiName, i)
		if got := len(imagesNamed(t, client, name)); got != 1 {
			t.Errorf("%d AMIs named %s, want 1", got, name)
		}
		if !strings.Contains(out, fmt.Sprintf("bakery-ebs.b%d: AMIs were created", i)) && !strings.Contains(out, fmt.Sprintf("Build 'bakery-ebs.b%d' finished", i)) {
			t.Errorf("packer did not report build b%d as finished", i)
		}
	}
	assertNothingLeft(t, client)
}
