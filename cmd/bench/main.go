// Command bench bakes the same AMI with this project's plugin ("ours",
// with and without Mitogen) and with the stock amazon + ansible plugins
// ("stock") on one offline test-bed, and prints a side-by-side table of
// bake wall times, readiness detection lag, Ansible speed, AWS calls and
// behaviour under concurrent, throttled bakes. It writes every figure to
// .cache/bench/results.json. `make bench` runs it (`go run ./cmd/bench`);
// docs/performance.md explains the figures. Each part has its file, named
// by what it measures. It reports, and never fails because of a timing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "bake: bakes per variant, alternating A/B")
	flag.IntVar(&o.waitBakes, "wait-bakes", 2, "readiness: concurrent bakes per plugin with delayed readiness")
	flag.DurationVar(&o.instancePending, "instance-pending", 30*time.Second, "readiness: how long the proxy shows a launched instance as pending")
	flag.DurationVar(&o.imagePending, "image-pending", 120*time.Second, "readiness: how long the proxy shows a new AMI as pending")
	flag.IntVar(&o.ansibleRuns, "ansible-runs", 2, "ansible: runs of each variant (plain, ours, with and without Mitogen), alternating")
	flag.IntVar(&o.stockAnsibleRuns, "stock-ansible-runs", 1, "ansible: runs of the stock provisioner (for reference; it is no target)")
	flag.IntVar(&o.playTasks, "tasks", 200, "ansible: tasks in the playbook")
	flag.IntVar(&o.copyMB, "copy-mb", 100, "ansible: size of the copied file in MB")
	flag.IntVar(&o.concurrent, "concurrent", 20, "concurrent: concurrent bakes per plugin")
	flag.Float64Var(&o.throttle, "throttle", 0.2, "concurrent: share of AWS calls throttled")
	flag.DurationVar(&o.concurrentTimeout, "concurrent-timeout", 6*time.Minute, "concurrent: a bake still running after this is stopped and counted as failed")
	flag.BoolVar(&o.mitogen, "mitogen", true, "bake, ansible: also run ours (and plain ansible-playbook) with Mitogen")
	flag.StringVar(&o.only, "only", strings.Join(partNames, ","), "parts to run: "+strings.Join(partNames, ", ")+" (the AWS calls per bake come from bake's bakes)")
	flag.StringVar(&o.sides, "sides", "ours,stock", "plugins to compare")
	flag.StringVar(&o.out, "out", "", "results file (default $BAKERY_CACHE/bench/results.json)")
	flag.Parse()
	for _, p := range strings.Split(o.only, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(partNames, strings.ToLower(p)) {
			fmt.Fprintf(os.Stderr, "bench: -only: no part %q (the parts: %s)\n", p, strings.Join(partNames, ", "))
			os.Exit(2)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	runs, waitBakes, ansibleRuns, stockAnsibleRuns, playTasks, copyMB, concurrent int
	throttle                                                                      float64
	concurrentTimeout, instancePending, imagePending                              time.Duration
	only, sides, out                                                              string
	mitogen                                                                       bool
}

// partNames are the parts in the order they run, named by what they
// measure (earlier reports called them P1, P2, P3 and P5; P4, the AWS
// calls, comes from bake).
var partNames = []string{"bake", "readiness", "ansible", "concurrent"}

func (o options) wants(part string) bool {
	for _, p := range strings.Split(o.only, ",") {
		if strings.EqualFold(strings.TrimSpace(p), part) {
			return true
		}
	}
	return false
}

func run(ctx context.Context, o options) error {
	root, err := testbed.FindRoot("")
	if err != nil {
		return err
	}
	cache := testbed.CacheDir(root)
	if o.out == "" {
		o.out = filepath.Join(cache, "bench", "results.json")
	}
	work := filepath.Join(cache, "bench", "work")
	_ = os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	h := &harness{root: root, cache: cache, work: work, opts: o,
		res: &Results{Started: time.Now().UTC(), Host: hostInfo()}}

	say("building and installing the plugins")
	if err := h.setupSides(ctx, strings.Split(o.sides, ",")); err != nil {
		return err
	}
	say("starting the test-bed (moto behind the fault proxy, sshd)")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	bed, err := testbed.Start(startCtx, testbed.Options{Root: root, FaultProxy: true})
	cancel()
	if err != nil {
		return err
	}
	defer bed.Stop()
	if err := testbed.RequireLoopback(bed.Endpoint); err != nil {
		return fmt.Errorf("refusing to run: %w", err)
	}
	h.bed = bed
	if err := h.prepare(ctx); err != nil {
		return err
	}

	parts := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"bake", h.bakeTime}, {"readiness", h.readinessLag}, {"ansible", h.ansibleSpeed}, {"concurrent", h.concurrentThrottled},
	}
	for _, p := range parts {
		if !o.wants(p.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		if err := p.fn(ctx); err != nil {
			h.res.Errors = append(h.res.Errors, fmt.Sprintf("%s: %v", p.name, err))
			say("%s failed: %v", p.name, err)
		}
		say("%s took %s", p.name, time.Since(start).Round(time.Second))
		if err := h.save(o.out); err != nil { // keep what we have if a later part dies
			return err
		}
	}
	h.res.Finished = time.Now().UTC()
	h.res.summarise()
	if err := h.save(o.out); err != nil {
		return err
	}
	printTable(os.Stdout, h.res)
	fmt.Printf("\nresults: %s\nlogs:    %s\n", o.out, work)
	return nil
}

func (h *harness) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(h.res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
