package common

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// twoBuilds gives two handles on one run file, as two plugin processes of
// one packer run have, sharing nothing in memory.
func twoBuilds(t *testing.T) (*runShare, *runShare, *fakeClock) {
	t.Helper()
	if !fileLockSupported {
		t.Skip("no file locks on this system")
	}
	path := filepath.Join(t.TempDir(), runSharePrefix+"test.json")
	clock := &fakeClock{t: time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)}
	return &runShare{path: path, now: clock.now}, &runShare{path: path, now: clock.now}, clock
}

func TestRunShareThrottleHoldsTheOtherBuilds(t *testing.T) {
	a, b, clock := twoBuilds(t)
	if d := b.pause(); d != 0 {
		t.Fatalf("fresh run: pause %v, want 0", d)
	}
	a.throttled()
	if d := b.pause(); d != runPauseBase {
		t.Fatalf("after one throttle in build A, build B pauses %v, want %v", d, runPauseBase)
	}
	a.throttled()
	b.throttled()
	if d := a.pause(); d != 4*runPauseBase {
		t.Fatalf("three throttles in a row: pause %v, want %v", d, 4*runPauseBase)
	}
	for range 20 {
		a.throttled()
	}
	if d := b.pause(); d != runPauseMax {
		t.Fatalf("long throttling: pause %v, want the ceiling %v", d, runPauseMax)
	}
	clock.advance(runPauseMax)
	if d := a.pause(); d != 0 {
		t.Fatalf("after the pause: %v, want 0", d)
	}
	for range 23 {
		b.succeeded()
	}
	a.throttled()
	if d := b.pause(); d != runPauseBase {
		t.Fatalf("throttling that stopped is forgotten by successes: pause %v, want %v", d, runPauseBase)
	}
}

func TestRunShareBudgetIsOneForTheRun(t *testing.T) {
	a, b, clock := twoBuilds(t)
	ctx := context.Background()
	var releases []func() error
	for i := 0; i < runBudgetTokens/5; i++ {
		s := a
		if i%2 == 1 {
			s = b
		}
		release, err := s.GetToken(ctx, 5)
		if err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		releases = append(releases, release)
	}
	if _, err := b.GetToken(ctx, 5); !errors.Is(err, errRunBudgetSpent) {
		t.Fatalf("budget spent by both builds together: got %v, want errRunBudgetSpent", err)
	}
	if err := releases[0](); err != nil { // a retry that succeeded gives its cost back
		t.Fatal(err)
	}
	if _, err := a.GetToken(ctx, 5); err != nil {
		t.Fatalf("after a refund: %v", err)
	}
	if _, err := a.GetToken(ctx, 5); !errors.Is(err, errRunBudgetSpent) {
		t.Fatalf("refund spent again: got %v", err)
	}
	clock.advance(time.Second) // tokens of a killed build come back over time
	if _, err := b.GetToken(ctx, runBudgetRefillPerSecond); err != nil {
		t.Fatalf("after a second's refill: %v", err)
	}
}

// fakeRetryer records attempt releases.
type fakeRetryer struct {
	aws.RetryerV2
	released []error
}

func (f *fakeRetryer) GetAttemptToken(context.Context) (func(error) error, error) {
	return func(err error) error { f.released = append(f.released, err); return nil }, nil
}

func TestRunRetryerHoldsCallsAfterAnotherBuildWasThrottled(t *testing.T) {
	a, b, _ := twoBuilds(t)
	inner := &fakeRetryer{RetryerV2: retry.NewStandard()}
	var slept []time.Duration
	ra := newRunRetryer(inner, a)
	rb := newRunRetryer(inner, b)
	rb.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }

	release, err := ra.GetAttemptToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	throttle := &retry.MaxAttemptsError{Err: fakeAPIError("RequestLimitExceeded")}
	_ = release(throttle)
	if _, err := rb.GetAttemptToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(slept) != 1 || slept[0] < runPauseBase || slept[0] > runPauseBase*3/2 {
		t.Fatalf("build B slept %v, want one pause of %v plus up to half again", slept, runPauseBase)
	}
	if len(inner.released) != 1 || inner.released[0] != throttle {
		t.Fatalf("inner retryer saw %v, want the throttle error passed on", inner.released)
	}

	cancelled := newRunRetryer(inner, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a.throttled()
	if _, err := cancelled.GetAttemptToken(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ctrl-C during the pause: got %v, want context.Canceled", err)
	}
}

type fakeAPIError string

func (e fakeAPIError) Error() string                 { return string(e) }
func (e fakeAPIError) ErrorCode() string             { return string(e) }
func (e fakeAPIError) ErrorMessage() string          { return string(e) }
func (e fakeAPIError) ErrorFault() smithy.ErrorFault { return smithy.FaultServer }

// TestRunShareSpentBudgetFailsTheCall: through the real SDK client, a call
// that keeps being throttled stops retrying when the run's budget is
// spent, and says so.
func TestRunShareSpentBudgetFailsTheCall(t *testing.T) {
	a, _, _ := twoBuilds(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>`)
	}))
	defer srv.Close()
	// Leave room for two retries only.
	if err := a.update(func(st *runShareState) { st.Tokens = 2 * float64(retry.DefaultThrottlingRetryCost) }); err != nil {
		t.Fatal(err)
	}
	retryer := newRunRetryer(retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 10
		so.MaxBackoff = time.Millisecond
		so.RateLimiter = a
	}), a)
	retryer.sleep = func(context.Context, time.Duration) error { return nil }
	client := ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Retryer:      retryer,
	})
	_, err := client.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{})
	if !errors.Is(err, errRunBudgetSpent) {
		t.Fatalf("got %v, want the run's spent budget named", err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d calls reached AWS, want 3 (the first and two retries)", n)
	}
}

// TestRunShareAcrossProcesses: a throttle recorded by another process (as
// another build's plugin is) holds this one's calls.
func TestRunShareAcrossProcesses(t *testing.T) {
	if path := os.Getenv("BAKERY_RUNSHARE_CHILD"); path != "" {
		(&runShare{path: path, now: time.Now}).throttled()
		return
	}
	if !fileLockSupported {
		t.Skip("no file locks on this system")
	}
	path := filepath.Join(t.TempDir(), runSharePrefix+"proc.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunShareAcrossProcesses$")
	cmd.Env = append(os.Environ(), "BAKERY_RUNSHARE_CHILD="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var st runShareState
	if err := (&runShare{path: path, now: time.Now}).update(func(s *runShareState) { st = *s }); err != nil {
		t.Fatal(err)
	}
	if st.Throttles != 1 || time.Since(st.PauseUntil) > time.Minute {
		t.Fatalf("after the other process's throttle: %+v, want one throttle and a pause just set", st)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("run file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestRemoveStaleRunShares(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old := filepath.Join(dir, runSharePrefix+"old.json")
	recent := filepath.Join(dir, runSharePrefix+"recent.json")
	other := filepath.Join(dir, "unrelated.json")
	for _, p := range []string{old, recent, other} {
		if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{old, other} {
		if err := os.Chtimes(p, now.Add(-25*time.Hour), now.Add(-25*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleRunShares(dir, now)
	for p, want := range map[string]bool{old: false, recent: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}

// TestRunShareLastHolderRemovesTheFiles: no file of the run stays in
// TMPDIR once its processes have ended their share.
func TestRunShareLastHolderRemovesTheFiles(t *testing.T) {
	if !fileLockSupported {
		t.Skip("no file locks on this system")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, runSharePrefix+"end.json")
	a, err := joinRunShare(path, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := joinRunShare(path, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	a.end(false)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the first build to end removed the run's file under the second: %v", err)
	}
	b.throttled()
	b.end(false)
	a.throttled() // after its end: must not bring the file back
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left in TMPDIR after the run: %v", left)
	}
	// The next run's first process starts afresh.
	c, err := joinRunShare(path, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.pause(); d != 0 {
		t.Errorf("a fresh share pauses %v", d)
	}
	c.end(false)
}

// TestRunShareOfAKilledRunIsRemoved: a process killed before it could end
// its share leaves the files; the next run removes them, since no one
// holds them any more.
func TestRunShareOfAKilledRunIsRemoved(t *testing.T) {
	if path := os.Getenv("BAKERY_RUNSHARE_KILLED"); path != "" {
		if _, err := joinRunShare(path, time.Now); err != nil {
			t.Fatal(err)
		}
		os.Exit(0) // no end(): as if killed
	}
	if !fileLockSupported {
		t.Skip("no file locks on this system")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, runSharePrefix+"killed.json")
	live, err := joinRunShare(filepath.Join(dir, runSharePrefix+"live.json"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer live.end(false)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunShareOfAKilledRunIsRemoved$")
	cmd.Env = append(os.Environ(), "BAKERY_RUNSHARE_KILLED="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the killed process left no file: the check below would prove nothing (%v)", err)
	}
	removeStaleRunShares(dir, time.Now())
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the killed run's file is still there (%v)", err)
	}
	if _, err := os.Stat(live.path); err != nil {
		t.Errorf("a live run's file was removed: %v", err)
	}
}

func TestRunShareNeverFollowsASymlink(t *testing.T) {
	if !fileLockSupported {
		t.Skip("no file locks on this system")
	}
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, runSharePrefix+"link.json")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if _, err := joinRunShare(path, time.Now); err == nil {
		t.Error("joined a run share whose state file is a symlink")
	}
	if data, _ := os.ReadFile(victim); string(data) != "precious" {
		t.Errorf("the symlink's target was written: %q", data)
	}
}

// TestSpentBudgetNeverStarvesCleanup: once the run's budget is spent,
// ordinary calls stop retrying, but the calls that remove what a build
// made are still retried until they go through.
func TestSpentBudgetNeverStarvesCleanup(t *testing.T) {
	a, _, _ := twoBuilds(t)
	var failures atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Fail the first two tries of every call, as a bad minute of AWS does.
		if failures.Add(1)%3 != 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<Response><Errors><Error><Code>Unavailable</Code><Message>try again</Message></Error></Errors><RequestID>x</RequestID></Response>`)
			return
		}
		fmt.Fprint(w, `<TerminateInstancesResponse><requestId>x</requestId><instancesSet/></TerminateInstancesResponse>`)
	}))
	defer srv.Close()
	if err := a.update(func(st *runShareState) { st.Tokens = 0 }); err != nil {
		t.Fatal(err)
	}
	client := ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Retryer:      newSharedRetryer(10, a),
	}, func(o *ec2.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
	})
	if _, err := client.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{}); !errors.Is(err, errRunBudgetSpent) {
		t.Fatalf("an ordinary call: %v, want the spent budget", err)
	}
	failures.Store(0)
	if _, err := client.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}}); err != nil {
		t.Fatalf("the cleanup call was not retried through the spent budget: %v", err)
	}
}

// EC2's InsufficientInstanceCapacity (HTTP 500) is not retried: the launch
// moves on to its fallback at once; other server errors still are.
func TestRetryerDoesNotRetryNoCapacity(t *testing.T) {
	r := newSharedRetryer(DefaultMaxAttempts, nil)
	ice := &smithy.GenericAPIError{Code: "InsufficientInstanceCapacity", Message: "no t3.micro"}
	if r.IsErrorRetryable(&smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 500}}, Err: ice}) {
		t.Error("InsufficientInstanceCapacity is retried")
	}
	internal := &smithy.GenericAPIError{Code: "InternalError"}
	if !r.IsErrorRetryable(&smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 500}}, Err: internal}) {
		t.Error("InternalError (HTTP 500) is no longer retried")
	}
}
