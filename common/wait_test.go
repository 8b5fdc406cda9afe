package common

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
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

// The tests that depend on time run in a synctest bubble: its clock is
// fake and only moves when every goroutine in the bubble waits, so a loaded
// machine cannot stretch a wait and the messages' elapsed times are exact.

func TestWait_reportsEachStateChangeOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		check, calls := states("pending", "pending", "pending", "booting", "booting", "done")
		say, said := recordSay()
		if err := Wait(t.Context(), say, "instance i-1 to run", Poll{Interval: time.Second}, check); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if *calls != 6 {
			t.Errorf("checked %d times, want 6", *calls)
		}
		want := []string{
			"Waiting for instance i-1 to run (now pending, 0s elapsed)...",
			"Waiting for instance i-1 to run (now booting, 3s elapsed)...",
			"instance i-1 to run: done after 5s",
		}
		if !slices.Equal(*said, want) {
			t.Errorf("said %q, want %q", *said, want)
		}
	})
}

func TestWait_saysStillWaitingEveryReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		check := func(context.Context) (bool, string, error) {
			switch e := time.Since(start); {
			case e < 15*time.Second:
				return false, "pending", nil
			case e < 41*time.Second:
				return false, "booting", nil
			default:
				return true, "available", nil
			}
		}
		say, said := recordSay()
		if err := Wait(t.Context(), say, "AMI", Poll{Interval: time.Second, Report: 10 * time.Second}, check); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		// A change of state restarts the report interval.
		want := []string{
			"Waiting for AMI (now pending, 0s elapsed)...",
			"Still waiting for AMI (now pending, 10s elapsed)...",
			"Waiting for AMI (now booting, 15s elapsed)...",
			"Still waiting for AMI (now booting, 25s elapsed)...",
			"Still waiting for AMI (now booting, 35s elapsed)...",
			"AMI: available after 41s",
		}
		if !slices.Equal(*said, want) {
			t.Errorf("said\n%s\nwant\n%s", strings.Join(*said, "\n"), strings.Join(want, "\n"))
		}
	})
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
	synctest.Test(t, func(t *testing.T) {
		check, calls := states("pending")
		start := time.Now()
		err := Wait(t.Context(), func(string) {}, "AMI ami-1", Poll{Interval: time.Second, Timeout: 20 * time.Second}, check)
		if !errors.Is(err, ErrWaitTimeout) {
			t.Fatalf("err = %v, want it to wrap ErrWaitTimeout", err)
		}
		if want := "waiting for AMI ami-1 (last state pending): timed out after 20s"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		if d := time.Since(start); d != 20*time.Second {
			t.Errorf("a 20s timeout returned after %s", d)
		}
		// Checks at 0s, 1s, ... 19s; the timeout wins the race with the
		// tick at 20s or comes right after it.
		if *calls < 20 || *calls > 21 {
			t.Errorf("checked %d times in 20s at 1s intervals", *calls)
		}
	})
}

func TestWait_cancelStopsPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		check := func(context.Context) (bool, string, error) {
			calls++
			return false, "pending", nil
		}
		start := time.Now()
		time.AfterFunc(20*time.Second, cancel)
		// Nothing but the cancel can end this wait within an hour.
		err := Wait(ctx, func(string) {}, "instance", Poll{Interval: time.Hour, Timeout: 2 * time.Hour}, check)
		if d := time.Since(start); d != 20*time.Second {
			t.Errorf("Wait returned %s after the start, want at the cancel (20s)", d)
		}
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrWaitTimeout) {
			t.Errorf("err = %v, want it to wrap context.Canceled only", err)
		}
		if calls != 1 {
			t.Errorf("checked %d times, want 1", calls)
		}
	})
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
	synctest.Test(t, func(t *testing.T) {
		check, calls := states("pending")
		say, _ := recordSay()
		start := time.Now()
		err := Wait(t.Context(), say, "thing", Poll{Interval: 20 * time.Second, Timeout: 50 * time.Second, Attempts: 1000}, check)
		if !errors.Is(err, ErrWaitTimeout) || time.Since(start) != 50*time.Second {
			t.Fatalf("Wait = %v after %s, want ErrWaitTimeout after 50s", err, time.Since(start))
		}
		if *calls != 3 {
			t.Errorf("checked %d times, want 3 (at 0s, 20s, 40s)", *calls)
		}
	})
}
