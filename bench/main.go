// Command bench bakes the same AMI with this project's plugin ("ours") and
// with the stock amazon + ansible plugins ("stock") on one offline
// test-bed, and prints a side-by-side table of wall times, readiness
// detection lag, Ansible speed, AWS calls and behaviour under concurrent,
// throttled bakes. It writes every figure to .cache/bench/results.json.
// `make bench` runs it; docs/performance.md explains the figures. It
// reports, and never fails because of a timing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "P1: bakes per plugin, alternating A/B")
	flag.IntVar(&o.waitBakes, "wait-bakes", 2, "P2: concurrent bakes per plugin with delayed readiness")
	flag.DurationVar(&o.instancePending, "instance-pending", 30*time.Second, "P2: how long the proxy shows a launched instance as pending")
	flag.DurationVar(&o.imagePending, "image-pending", 120*time.Second, "P2: how long the proxy shows a new AMI as pending")
	flag.IntVar(&o.ansibleRuns, "ansible-runs", 2, "P3: runs of each variant (plain, ours, stock), alternating")
	flag.IntVar(&o.stockAnsibleRuns, "stock-ansible-runs", 1, "P3: runs of the stock provisioner (for reference; it is no target)")
	flag.IntVar(&o.playTasks, "tasks", 200, "P3: tasks in the playbook")
	flag.IntVar(&o.copyMB, "copy-mb", 100, "P3: size of the copied file in MB")
	flag.IntVar(&o.concurrent, "concurrent", 20, "P5: concurrent bakes per plugin")
	flag.Float64Var(&o.throttle, "throttle", 0.2, "P5: share of AWS calls throttled")
	flag.DurationVar(&o.concurrentTimeout, "concurrent-timeout", 6*time.Minute, "P5: a bake still running after this is stopped and counted as failed")
	flag.StringVar(&o.only, "only", "p1,p2,p3,p5", "parts to run (P4 comes from P1's bakes)")
	flag.StringVar(&o.sides, "sides", "ours,stock", "plugins to compare")
	flag.StringVar(&o.out, "out", "", "results file (default $BAKERY_CACHE/bench/results.json)")
	flag.Parse()

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
}

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
		{"p1", h.p1}, {"p2", h.p2}, {"p3", h.p3}, {"p5", h.p5},
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
			h.res.Errors = append(h.res.Errors, fmt.Sprintf("%s: %v", strings.ToUpper(p.name), err))
			say("%s failed: %v", strings.ToUpper(p.name), err)
		}
		say("%s took %s", strings.ToUpper(p.name), time.Since(start).Round(time.Second))
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
