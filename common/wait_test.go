package common

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// states answers check calls with the given states in turn, done at "done".
func states(seq ...string) (Check, *int) {
	calls := 0
	return func(context.Context) (bool, string, error) {
		s := seq[min(calls, len(seq)-1)]
		calls++
		return s == "done", s, nil
	}, &calls
}

func recordSay() (func(string), *[]string) {
	var said []string
	return func(s string) { said = append(said, s) }, &said
}

func TestWait_doneAtOnceSaysNothing(t *testing.T) {
	check, calls := states("done")
	say, said := recordSay()
	if err := Wait(t.Context(), say, "thing", Poll{Interval: time.Millisecond}, check); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if *calls != 1 || len(*said) != 0 {
		t.Errorf("%d checks and messages %q, want 1 check and no message", *calls, *said)
	}
}

func TestWait_reportsEachStateChangeOnce(t *testing.T) {
	check, calls := states("pending", "pending", "pending", "booting", "booting", "done")
	say, said := recordSay()
	if err := Wait(t.Context(), say, "instance i-1 to run", Poll{Interval: time.Millisecond}, check); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if *calls != 6 {
		t.Errorf("checked %d times, want 6", *calls)
	}
	want := []string{"Waiting for instance i-1 to run (now pending, 0s elapsed)...", "Waiting for instance i-1 to run (now booting, 0s elapsed)..."}
	if strings.Join(*said, "\n") != strings.Join(want, "\n") {
		t.Errorf("said %q, want %q", *said, want)
	}
}

func TestWait_saysStillWaitingEveryReport(t *testing.T) {
	start := time.Now()
	check := func(context.Context) (bool, string, error) {
		return time.Since(start) > 60*time.Millisecond, "pending", nil
	}
	say, said := recordSay()
	if err := Wait(t.Context(), say, "AMI", Poll{Interval: time.Millisecond, Report: 10 * time.Millisecond}, check); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	still := 0
	for _, s := range *said {
		if strings.HasPrefix(s, "Still waiting for AMI (now pending") {
			still++
		}
	}
	if still < 1 || still > 10 {
		t.Errorf("%d still-waiting messages in 60ms with a 10ms report interval: %q", still, *said)
	}
}

func TestWait_checkErrorStops(t *testing.T) {
	boom := errors.New("instance terminated")
	calls := 0
	err := Wait(t.Context(), func(string) {}, "instance i-1 to run", Poll{Interval: time.Millisecond}, func(context.Context) (bool, string, error) {
		calls++
		return false, "terminated", boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "waiting for instance i-1 to run") {
		t.Errorf("err = %v, want it to wrap the check's error and say what was awaited", err)
	}
	if calls != 1 {
		t.Errorf("checked %d times after an error, want 1", calls)
	}
}

func TestWait_timeout(t *testing.T) {
	check, _ := states("pending")
	start := time.Now()
	err := Wait(t.Context(), func(string) {}, "AMI ami-1", Poll{Interval: time.Millisecond, Timeout: 20 * time.Millisecond}, check)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("err = %v, want it to wrap ErrWaitTimeout", err)
	}
	for _, w := range []string{"AMI ami-1", "last state pending", "20ms"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a 20ms timeout took %s", d)
	}
}

func TestWait_cancelStopsPromptly(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	check := func(context.Context) (bool, string, error) {
		calls++
		return false, "pending", nil
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		// Nothing but the cancel can end this wait within an hour.
		done <- Wait(ctx, func(string) {}, "instance", Poll{Interval: time.Hour, Timeout: 2 * time.Hour}, check)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return within 5s of the cancel")
	}
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrWaitTimeout) {
		t.Errorf("err = %v, want it to wrap context.Canceled only", err)
	}
	if calls != 1 {
		t.Errorf("checked %d times, want 1", calls)
	}
}

func TestWait_cancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check, _ := states("pending")
	err := Wait(ctx, func(string) {}, "instance", Poll{Interval: time.Hour, Timeout: 2 * time.Second}, check)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestWait_givesUpAfterAttempts(t *testing.T) {
	check, calls := states("pending")
	say, _ := recordSay()
	err := Wait(t.Context(), say, "AMI ami-1", Poll{Interval: time.Millisecond, Attempts: 3}, check)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("Wait = %v, want ErrWaitTimeout", err)
	}
	if *calls != 3 {
		t.Errorf("checked %d times, want 3 (Attempts)", *calls)
	}
	if want := "waiting for AMI ami-1 (last state pending): timed out after 3 checks"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
}

func TestWait_doneOnLastAttemptSucceeds(t *testing.T) {
	check, calls := states("pending", "pending", "done")
	say, _ := recordSay()
	if err := Wait(t.Context(), say, "thing", Poll{Interval: time.Millisecond, Attempts: 3}, check); err != nil {
		t.Fatalf("Wait: %v (the third check was done)", err)
	}
	if *calls != 3 {
		t.Errorf("checked %d times, want 3", *calls)
	}
}

func TestWait_timeoutBeforeAttempts(t *testing.T) {
	check, calls := states("pending")
	say, _ := recordSay()
	start := time.Now()
	err := Wait(t.Context(), say, "thing", Poll{Interval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond, Attempts: 1000}, check)
	if !errors.Is(err, ErrWaitTimeout) || time.Since(start) > time.Second {
		t.Fatalf("Wait = %v after %s, want ErrWaitTimeout after ~50ms", err, time.Since(start))
	}
	if *calls >= 1000 {
		t.Errorf("checked %d times: the timeout did not come first", *calls)
	}
}
