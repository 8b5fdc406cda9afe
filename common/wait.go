package common

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Poll says how often and how long to wait for AWS. One steady interval,
// not a back-off: a state change is seen within Interval of happening,
// where SDK waiters' growing delays add up to a minute of lag per bake.
type Poll struct {
	Interval time.Duration // between checks; default 2s
	Timeout  time.Duration // give up after; default 30m
	Report   time.Duration // how often to say "still waiting"; default 30s
	// Attempts, if set, also gives up after that many checks that were
	// not done: amazon-ebs's `aws_polling.max_attempts`. Whichever of
	// Timeout and Attempts comes first ends the wait.
	Attempts int
}

// Check looks once: done when the wait is over, state for the user
// ("pending"), err to stop waiting at once.
type Check func(ctx context.Context) (done bool, state string, err error)

// ErrWaitTimeout is wrapped by Wait's error when Timeout passes.
var ErrWaitTimeout = errors.New("timed out")

// Wait calls check until it is done, telling say what it waits for, each
// change of state and, every Report, how long it has waited. It returns as
// soon as ctx is cancelled (Ctrl-C), without waiting out an interval.
func Wait(ctx context.Context, say func(string), what string, p Poll, check Check) error {
	if p.Interval <= 0 {
		p.Interval = 2 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 30 * time.Minute
	}
	if p.Report <= 0 {
		p.Report = 30 * time.Second
	}
	start := time.Now()
	deadline := time.NewTimer(p.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(p.Interval)
	defer tick.Stop()

	last, lastReport := "", start
	for attempt := 1; ; attempt++ {
		done, state, err := check(ctx)
		elapsed := time.Since(start).Round(time.Second)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			if elapsed >= time.Second {
				say(fmt.Sprintf("%s: %s after %s", what, state, elapsed))
			}
			return nil
		}
		switch {
		case state != last:
			say(fmt.Sprintf("Waiting for %s (now %s, %s elapsed)...", what, state, elapsed))
			last, lastReport = state, time.Now()
		case time.Since(lastReport) >= p.Report:
			say(fmt.Sprintf("Still waiting for %s (now %s, %s elapsed)...", what, state, elapsed))
			lastReport = time.Now()
		}
		if p.Attempts > 0 && attempt >= p.Attempts {
			return fmt.Errorf("waiting for %s (last state %s): %w after %d checks in %s", what, state, ErrWaitTimeout, attempt, elapsed)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("waiting for %s (last state %s): %w after %s", what, state, ErrWaitTimeout, p.Timeout)
		case <-tick.C:
		}
	}
}
