package common

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Packer starts one plugin process per build, so the builds of one
// `packer build` cannot share a retryer in memory. They share it through a
// small file instead, keyed by the PACKER_RUN_UUID packer gives every
// plugin it starts:
//
//   - the retry budget: the SDK's retry quota (a retry takes tokens, a
//     success gives them back), one bucket for the whole run, so that when
//     AWS keeps failing the builds stop retrying together instead of each
//     spending its own budget against an API that is down;
//   - throttling backoff: a build that is throttled makes every build of
//     the run hold its next call for a moment, longer while throttling
//     goes on, so together they fall under the account's rate limit instead
//     of each backing off alone while the others keep the limit exceeded.
//
// Without PACKER_RUN_UUID (the sweep subcommand, tests), with
// PACKER_BAKERY_RUN_SHARE=off, or where the file cannot be used, each
// process keeps its own budget.
//
// Nothing stays in TMPDIR: every process of the run holds a shared lock on
// the run's `.lock` file while it uses the share, and the process that
// ends its share (EndRunShare, when its build, data source or sweep is
// done, also after Ctrl-C) and finds itself the last holder removes both
// files. Files of runs whose processes were killed are removed by the
// next run that finds no holder.

const (
	// runBudgetTokens is the run's retry budget: the SDK's default for one
	// client, here for all the builds of the run together.
	runBudgetTokens = 500
	// runBudgetRefillPerSecond gives tokens back over time, so that tokens
	// taken by a build that was killed mid-retry are not lost to the run.
	runBudgetRefillPerSecond = 5
	// runPauseBase and runPauseMax bound the run-wide pause after a
	// throttled call: it doubles with each throttle in a row, run-wide.
	runPauseBase = 50 * time.Millisecond
	runPauseMax  = 2 * time.Second
	// runShareMaxAge: files of runs older than this are removed when a new
	// run starts (the last build of a run cannot know it is the last).
	runShareMaxAge = 24 * time.Hour
	runSharePrefix = "packer-bakery-run-"
	// runShareOrphanAge: a state file with no lock file next to it is
	// left by a killed process, or being made right now; after this long
	// it is not being made.
	runShareOrphanAge = time.Minute
)

// errRunBudgetSpent is what a call fails with when the run's retry budget
// is spent.
var errRunBudgetSpent = errors.New("the retry budget shared by the builds of this packer run is spent: AWS calls keep failing across builds; see the errors above")

// runShareState is the file's content.
type runShareState struct {
	Tokens     float64   `json:"tokens"`
	Updated    time.Time `json:"updated"`
	PauseUntil time.Time `json:"pause_until"`
	// Throttles counts throttled calls in a row, run-wide; a successful
	// call takes one off.
	Throttles int `json:"throttles"`
}

// runShare is one process's handle on the run's shared file.
type runShare struct {
	path string
	now  func() time.Time
	mu   sync.Mutex // one update at a time within the process; flock across
	// member is the run's lock file, held shared while this process uses
	// the share; nil once the share ended (or in tests of the state
	// alone).
	member *os.File
	ended  bool
}

// errRunShareEnded: the process ended its share; its calls keep their
// own budget from then on.
var errRunShareEnded = errors.New("this process's share of the run has ended")

var runUUIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

var (
	runShareOnce sync.Once
	runShareInst *runShare
)

// currentRunShare is the process's share of its packer run, or nil.
func currentRunShare() *runShare {
	runShareOnce.Do(func() {
		id := os.Getenv("PACKER_RUN_UUID")
		if !runUUIDPattern.MatchString(id) || !fileLockSupported || os.Getenv("PACKER_BAKERY_RUN_SHARE") == "off" {
			return
		}
		dir := os.TempDir()
		removeStaleRunShares(dir, time.Now())
		removeStaleRunCreds(dir, time.Now(), filepath.Join(dir, runSharePrefix+id+runCredsSuffix))
		s, err := joinRunShare(filepath.Join(dir, runSharePrefix+id+".json"), time.Now)
		if err != nil {
			log.Printf("[WARN] retries are not shared with this run's other builds: %v", err)
			return
		}
		runShareInst = s
	})
	return runShareInst
}

// EndRunShare ends this process's share of the run, when its work with AWS
// is done (a build's Run, a data source's Execute, a sweep): the last
// process of the run to end removes the run's files. Calls made after it
// keep a budget of their own. Safe to call when there is no share.
func EndRunShare() {
	if runShareInst != nil {
		runShareInst.end(false)
	}
}

// EndRunShareBeforeBuilds is EndRunShare for a data source: Packer runs
// data sources before it starts the builds, so the role credentials an MFA
// code got (runcreds.go) stay for the builds, whose last one removes them.
func EndRunShareBeforeBuilds() {
	if runShareInst == nil {
		return
	}
	// If no build of this plugin follows, the reaper removes the
	// credentials once the run is over (runreaper.go).
	if fi, err := os.Lstat(runShareInst.credsDir()); err == nil && fi.IsDir() {
		reaperOnce.Do(func() {
			if err := startRunReaper(runShareInst); err != nil {
				log.Printf("[WARN] the run's shared role credentials stay in %s until the next run or build of this plugin: %v", runShareInst.credsDir(), err)
			}
		})
	}
	runShareInst.end(true)
}

var reaperOnce sync.Once

// joinRunShare opens the run's files and becomes one of their holders.
func joinRunShare(path string, now func() time.Time) (*runShare, error) {
	lockPath := strings.TrimSuffix(path, ".json") + ".lock"
	for range 3 {
		f, err := openPrivate(lockPath)
		if err != nil {
			return nil, err
		}
		if err := lockShared(f); err != nil {
			f.Close()
			return nil, err
		}
		// The last holder may have removed the files between our open
		// and our lock: then join the new ones.
		if !sameFile(f, lockPath) {
			f.Close()
			continue
		}
		s := &runShare{path: path, now: now, member: f}
		if err := s.update(func(*runShareState) {}); err != nil {
			s.end(false)
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("%s keeps being replaced", lockPath)
}

// end gives up the share; the last holder removes the files, and the
// run's private folder unless keepCreds.
func (s *runShare) end(keepCreds bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	if s.member == nil {
		return
	}
	if lockAlone(s.member) && sameFile(s.member, s.lockPath()) {
		_ = os.Remove(s.path)
		if !keepCreds {
			removeOwnDir(s.credsDir())
		}
		_ = os.Remove(s.lockPath())
	}
	_ = s.member.Close()
	s.member = nil
}

// credsDir is the run's private folder (runcreds.go).
func (s *runShare) credsDir() string { return strings.TrimSuffix(s.path, ".json") + runCredsSuffix }

func (s *runShare) lockPath() string { return strings.TrimSuffix(s.path, ".json") + ".lock" }

// removeStaleRunShares removes what runs whose processes were killed left:
// a lock file no one holds (and its state file), a state file with no lock
// file after a minute, and anything a day old.
func removeStaleRunShares(dir string, now time.Time) {
	locks, _ := filepath.Glob(filepath.Join(dir, runSharePrefix+"*.lock"))
	for _, l := range locks {
		f, err := os.OpenFile(l, os.O_RDONLY|noFollow, 0)
		if err != nil {
			continue
		}
		if lockAlone(f) && sameFile(f, l) {
			_ = os.Remove(strings.TrimSuffix(l, ".lock") + ".json")
			_ = os.Remove(l)
		}
		f.Close()
	}
	states, _ := filepath.Glob(filepath.Join(dir, runSharePrefix+"*.json"))
	for _, m := range states {
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		_, lockErr := os.Lstat(strings.TrimSuffix(m, ".json") + ".lock")
		if now.Sub(fi.ModTime()) > runShareMaxAge || os.IsNotExist(lockErr) && now.Sub(fi.ModTime()) > runShareOrphanAge {
			_ = os.Remove(m)
		}
	}
}

// update runs fn on the state under an exclusive lock of the file, after
// refilling the budget for the time passed, and writes the result back.
func (s *runShare) update(fn func(*runShareState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errRunShareEnded
	}
	f, err := openPrivate(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("locking %s: %w", s.path, err)
	}
	defer unlockFile(f)

	now := s.now()
	var st runShareState
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(data))) == 0 || json.Unmarshal(data, &st) != nil {
		st = runShareState{Tokens: runBudgetTokens, Updated: now}
	}
	if elapsed := now.Sub(st.Updated).Seconds(); elapsed > 0 {
		st.Tokens = min(runBudgetTokens, st.Tokens+elapsed*runBudgetRefillPerSecond)
	}
	st.Updated = now
	fn(&st)
	out, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.WriteAt(out, 0)
	return err
}

// GetToken takes cost tokens from the run's budget (retry.RateLimiter).
func (s *runShare) GetToken(_ context.Context, cost uint) (func() error, error) {
	ok := false
	if err := s.update(func(st *runShareState) {
		if st.Tokens >= float64(cost) {
			st.Tokens -= float64(cost)
			ok = true
		}
	}); err != nil {
		// A file that stopped working must not stop the retries.
		if !errors.Is(err, errRunShareEnded) {
			log.Printf("[WARN] shared retry budget unavailable, retrying anyway: %v", err)
		}
		return func() error { return nil }, nil
	}
	if !ok {
		return nil, errRunBudgetSpent
	}
	return func() error { return s.AddTokens(cost) }, nil
}

// AddTokens gives tokens back to the run's budget (retry.RateLimiter).
func (s *runShare) AddTokens(v uint) error {
	err := s.update(func(st *runShareState) {
		st.Tokens = min(runBudgetTokens, st.Tokens+float64(v))
	})
	if errors.Is(err, errRunShareEnded) {
		return nil
	}
	return err
}

// throttled records a throttled call: every build of the run holds its
// next call until the pause is over.
func (s *runShare) throttled() {
	_ = s.update(func(st *runShareState) {
		st.Throttles++
		pause := runPauseBase << min(st.Throttles-1, 10)
		if pause > runPauseMax {
			pause = runPauseMax
		}
		if until := s.now().Add(pause); until.After(st.PauseUntil) {
			st.PauseUntil = until
		}
	})
}

// succeeded records a call that went through.
func (s *runShare) succeeded() {
	_ = s.update(func(st *runShareState) {
		if st.Throttles > 0 {
			st.Throttles--
		}
	})
}

// pause is how long calls are held now.
func (s *runShare) pause() time.Duration {
	var d time.Duration
	_ = s.update(func(st *runShareState) { d = st.PauseUntil.Sub(s.now()) })
	return max(d, 0)
}

// runRetryer adds the run-wide throttling pause to a retryer.
type runRetryer struct {
	aws.RetryerV2
	share     *runShare
	throttles retry.IsErrorThrottles
	sleep     func(context.Context, time.Duration) error
}

func newRunRetryer(inner aws.RetryerV2, share *runShare) *runRetryer {
	return &runRetryer{RetryerV2: inner, share: share, throttles: retry.DefaultThrottles, sleep: sleepCtx}
}

func (r *runRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if d := r.share.pause(); d > 0 {
		// Spread the builds that wake together over a little more time.
		d += time.Duration(rand.Int64N(int64(d)/2 + 1))
		log.Printf("[DEBUG] a build of this packer run was throttled: holding the next AWS call %s", d.Round(time.Millisecond))
		if err := r.sleep(ctx, d); err != nil {
			return nil, err
		}
	}
	release, err := r.RetryerV2.GetAttemptToken(ctx)
	if err != nil {
		return nil, err
	}
	return func(opErr error) error {
		switch {
		case opErr == nil:
			r.share.succeeded()
		case r.throttles.IsErrorThrottle(opErr).Bool():
			r.share.throttled()
		}
		return release(opErr)
	}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
