package faultproxy

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeMoto is an httptest upstream that answers EC2 and STS query calls with
// moto-shaped replies and records what reached it.
type fakeMoto struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	got      []url.Values // form of every call that arrived
	hosts    []string
	fail     map[string]int // action → HTTP status to fail with (once)
	hold     chan struct{}  // RunInstances waits for it to close, when set
	launches int
}

func newFakeMoto(t *testing.T) *fakeMoto {
	f := &fakeMoto{t: t, fail: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeMoto) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/moto-api/reset" {
		io.WriteString(w, `{"status": "ok"}`)
		return
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("fake moto: %v", err)
	}
	action := r.PostForm.Get("Action")
	f.mu.Lock()
	f.got = append(f.got, r.PostForm)
	f.hosts = append(f.hosts, r.Host)
	status, failing := f.fail[action]
	delete(f.fail, action)
	hold := f.hold
	if action == "RunInstances" && !failing {
		f.launches++
	}
	f.mu.Unlock()
	if hold != nil && action == "RunInstances" {
		<-hold
	}
	if failing {
		w.WriteHeader(status)
		io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><Response><Errors><Error><Code>InternalError</Code><Message>boom</Message></Error></Errors><RequestID>x</RequestID></Response>`)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	switch action {
	case "RunInstances":
		w.Write(readTestdata(f.t, "run-instances.xml"))
	case "DescribeInstances":
		w.Write(readTestdata(f.t, "describe-instances.xml"))
	case "DescribeImages":
		// The one image is named bakery-test; a lookup by another name
		// finds nothing.
		if r.PostForm.Get("Filter.1.Name") == "name" && r.PostForm.Get("Filter.1.Value.1") != "bakery-test" {
			io.WriteString(w, `<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><imagesSet/></DescribeImagesResponse>`)
			return
		}
		w.Write(readTestdata(f.t, "describe-images.xml"))
	case "CreateImage":
		w.Write(readTestdata(f.t, "create-image.xml"))
	case "StopInstances", "TerminateInstances", "StartInstances":
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><instancesSet><item><instanceId>%s</instanceId></item></instancesSet><requestId>request-id</requestId></%sResponse>`,
			action, r.PostForm.Get("InstanceId.1"), action)
	default:
		fmt.Fprintf(w, `<%sResponse><requestId>request-id</requestId><return>true</return></%sResponse>`, action, action)
	}
}

func (f *fakeMoto) launched() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.launches
}

func (f *fakeMoto) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, v := range f.got {
		out = append(out, v.Get("Action"))
	}
	return out
}

// fakeClock is a settable clock for readiness tests.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func startProxy(t *testing.T, upstream string, opts ...Option) *Proxy {
	t.Helper()
	p, err := Start(upstream, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// client has no keep-alive, so a hung-up connection never spoils the next call.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}, Timeout: 10 * time.Second}

// awsCall sends a query-protocol call signed (in form only) for service.
func awsCall(p *Proxy, service, action string, params ...string) (*http.Response, []byte, error) {
	form := url.Values{"Action": {action}, "Version": {"2016-11-15"}}
	for i := 0; i+1 < len(params); i += 2 {
		form.Set(params[i], params[i+1])
	}
	req, err := http.NewRequest(http.MethodPost, p.URL()+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Authorization", authHeader(service, "us-east-1"))
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func mustCall(t *testing.T, p *Proxy, service, action string, params ...string) (int, []byte) {
	t.Helper()
	resp, body, err := awsCall(p, service, action, params...)
	if err != nil {
		t.Fatalf("%s:%s: %v", service, action, err)
	}
	return resp.StatusCode, body
}

type ec2Error struct {
	Code      string `xml:"Errors>Error>Code"`
	RequestID string `xml:"RequestID"`
}

type queryError struct {
	Type string `xml:"Error>Type"`
	Code string `xml:"Error>Code"`
}

func TestStartRefusesNonLoopbackUpstream(t *testing.T) {
	for _, u := range []string{"https://ec2.us-east-1.amazonaws.com", "http://10.0.0.1:5000", "ftp://127.0.0.1:1", "http://127.0.0.1:1/path", "not a url"} {
		if p, err := Start(u); err == nil {
			p.Close()
			t.Errorf("Start(%q) accepted", u)
		}
	}
}

func TestForwardsAndCounts(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL)

	status, body := mustCall(t, p, "ec2", "DescribeImages", "Owner.1", "self", "Filter.1.Value.1", "a&b=c")
	if status != 200 || string(body) != string(readTestdata(t, "describe-images.xml")) {
		t.Errorf("DescribeImages through the proxy: %d %s", status, body)
	}
	mustCall(t, p, "ec2", "DescribeImages")
	mustCall(t, p, "sts", "GetCallerIdentity")

	moto.mu.Lock()
	first, host := moto.got[0], moto.hosts[0]
	moto.mu.Unlock()
	if first.Get("Filter.1.Value.1") != "a&b=c" || first.Get("Owner.1") != "self" {
		t.Errorf("body not forwarded intact: %v", first)
	}
	if want := strings.TrimPrefix(p.URL(), "http://"); host != want {
		t.Errorf("Host %q reached moto, want the client's %q (it is signed)", host, want)
	}

	// moto's own API passes through and is not an AWS call.
	resp, err := client.Post(p.URL()+"/moto-api/reset", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("moto-api through the proxy: %v %v", resp, err)
	}
	resp.Body.Close()

	want := map[Call]int{{"ec2", "DescribeImages"}: 2, {"sts", "GetCallerIdentity"}: 1}
	if got := p.Counts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}
	if p.Count("ec2", "DescribeImages") != 2 {
		t.Errorf("Count = %d", p.Count("ec2", "DescribeImages"))
	}
	p.Reset()
	if got := p.Counts(); len(got) != 0 {
		t.Errorf("after Reset: %v", got)
	}
}

func TestThrottle(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{Throttle: Fault{Rate: 1}}))

	status, body := mustCall(t, p, "ec2", "RunInstances")
	var e ec2Error
	if err := xml.Unmarshal(body, &e); err != nil || status != 400 || e.Code != "RequestLimitExceeded" || e.RequestID == "" {
		t.Errorf("ec2 throttle: HTTP %d %s (%v)", status, body, err)
	}
	for _, svc := range []string{"sts", "iam"} {
		status, body = mustCall(t, p, svc, "GetCallerIdentity")
		var q queryError
		if err := xml.Unmarshal(body, &q); err != nil || status != 400 || q.Code != "Throttling" || q.Type != "Sender" {
			t.Errorf("%s throttle: HTTP %d %s (%v)", svc, status, body, err)
		}
	}
	if got := moto.calls(); len(got) != 0 {
		t.Errorf("throttled calls reached moto: %q", got)
	}
	if p.Count("ec2", "RunInstances") != 1 || p.Injected()[KindThrottle] != 3 {
		t.Errorf("counts %v, injected %v", p.Counts(), p.Injected())
	}
}

func TestServerError(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{Seed: 1, ServerError: Fault{Rate: 1}}))
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		status, body := mustCall(t, p, "ec2", "DescribeInstances")
		var e ec2Error
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		seen[fmt.Sprint(status, " ", e.Code)] = true
	}
	if len(seen) != 2 || !seen["500 InternalError"] || !seen["503 Unavailable"] {
		t.Errorf("5xx replies seen: %v", seen)
	}
	status, body := mustCall(t, p, "sts", "GetCallerIdentity")
	var q queryError
	if err := xml.Unmarshal(body, &q); err != nil || status/100 != 5 || q.Type != "Receiver" ||
		(q.Code != "InternalFailure" && q.Code != "ServiceUnavailable") {
		t.Errorf("sts 5xx: HTTP %d %s", status, body)
	}
	if got := moto.calls(); len(got) != 0 {
		t.Errorf("failed calls reached moto: %q", got)
	}
}

func TestDrop(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{Drop: Fault{Rate: 1}}))
	if resp, body, err := awsCall(p, "ec2", "RunInstances"); err == nil {
		t.Fatalf("dropped call got a reply: %d %s", resp.StatusCode, body)
	}
	if got := moto.calls(); len(got) != 0 {
		t.Errorf("dropped call reached moto: %q", got)
	}
	if p.Count("ec2", "RunInstances") != 1 || p.Injected()[KindDrop] != 1 {
		t.Errorf("counts %v, injected %v", p.Counts(), p.Injected())
	}
}

func TestLoseReply(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{LoseReply: Fault{Rate: 1}}))
	if resp, body, err := awsCall(p, "ec2", "CreateKeyPair", "KeyName", "k"); err == nil {
		t.Fatalf("lost reply arrived: %d %s", resp.StatusCode, body)
	}
	if got := moto.calls(); len(got) != 1 || got[0] != "CreateKeyPair" {
		t.Errorf("moto saw %q, want the call to take effect once", got)
	}
}

func TestRateZeroInjectsNothing(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{
		Throttle: Fault{Rate: 0}, ServerError: Fault{Rate: 0}, Drop: Fault{Rate: 0}, LoseReply: Fault{Rate: 0},
	}))
	for i := 0; i < 30; i++ {
		if status, body := mustCall(t, p, "ec2", "DescribeInstances"); status != 200 {
			t.Fatalf("HTTP %d %s", status, body)
		}
	}
	if inj := p.Injected(); len(inj) != 0 {
		t.Errorf("injected %v", inj)
	}
	if len(moto.calls()) != 30 {
		t.Errorf("moto saw %d calls", len(moto.calls()))
	}
}

func TestRestrictedToActions(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{
		Throttle: Fault{Rate: 1, Actions: []string{"RunInstances", "sts:GetCallerIdentity"}},
	}))
	want := map[string]int{
		"ec2:RunInstances":      400,
		"ec2:DescribeInstances": 200,
		"sts:GetCallerIdentity": 400,
		"iam:GetCallerIdentity": 200, // restricted to sts
	}
	for call, code := range want {
		svc, action, _ := strings.Cut(call, ":")
		if status, body := mustCall(t, p, svc, action); status != code {
			t.Errorf("%s: HTTP %d %s, want %d", call, status, body, code)
		}
	}
}

func TestMaxHits(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{Throttle: Fault{Rate: 1, Max: 2}}))
	var got []int
	for i := 0; i < 4; i++ {
		status, _ := mustCall(t, p, "ec2", "DescribeInstances")
		got = append(got, status)
	}
	p.Reset()
	status, _ := mustCall(t, p, "ec2", "DescribeInstances")
	got = append(got, status)
	if fmt.Sprint(got) != "[400 400 200 200 400]" {
		t.Errorf("statuses %v, want two throttled, then after Reset one more", got)
	}
}

func TestSeededRatesAreReproducible(t *testing.T) {
	moto := newFakeMoto(t)
	cfg := Config{Seed: 42, Throttle: Fault{Rate: 0.3}, ServerError: Fault{Rate: 0.1}}
	pattern := func() string {
		p := startProxy(t, moto.URL, WithConfig(cfg))
		var b strings.Builder
		for i := 0; i < 100; i++ {
			status, _ := mustCall(t, p, "ec2", "DescribeInstances")
			fmt.Fprintf(&b, "%d ", status)
		}
		return b.String()
	}
	a, b := pattern(), pattern()
	if a != b {
		t.Errorf("same seed, different faults:\n%s\n%s", a, b)
	}
	if n := strings.Count(a, "400"); n < 15 || n > 45 {
		t.Errorf("30%% throttling threw %d of 100", n)
	}
	if n := strings.Count(a, "200"); n < 40 || n > 85 {
		t.Errorf("%d of 100 calls went through", n)
	}
}

func TestLatency(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{Latency: Latency{
		Fixed: 150 * time.Millisecond, Jitter: 50 * time.Millisecond, Actions: []string{"RunInstances"},
	}}))
	// Only a lower bound on the wall clock: a loaded machine can make any
	// call slow, but never makes a timer fire early.
	start := time.Now()
	mustCall(t, p, "ec2", "RunInstances")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("delayed call took %v, want at least 150 ms", d)
	}
	mustCall(t, p, "ec2", "DescribeInstances")
	// Latency is counted when, and only when, a call is held back.
	if got := p.Injected(); got[KindLatency] != 1 {
		t.Errorf("injected %v, want latency on RunInstances only", got)
	}
}

// The delay drawn for a call, without the wall clock: Fixed plus up to
// Jitter, spread over the range, and none for other actions.
func TestLatencyDraws(t *testing.T) {
	p := &Proxy{rng: newRand(7)}
	l := Latency{Fixed: 150 * time.Millisecond, Jitter: 50 * time.Millisecond, Actions: []string{"RunInstances"}}
	run := Call{"ec2", "RunInstances"}
	var low, high int
	for range 1000 {
		d := p.latency(l, run)
		if d < l.Fixed || d >= l.Fixed+l.Jitter {
			t.Fatalf("drew %v, want within [150ms, 200ms)", d)
		}
		if d < l.Fixed+l.Jitter/2 {
			low++
		} else {
			high++
		}
	}
	if low < 400 || high < 400 { // a seeded draw: the same counts every run
		t.Errorf("1000 draws: %d in the lower half of the jitter, %d in the upper", low, high)
	}
	if d := p.latency(l, Call{"ec2", "DescribeInstances"}); d != 0 {
		t.Errorf("DescribeInstances delayed %v, want 0 (not in Actions)", d)
	}
	if d := p.latency(Latency{Fixed: time.Second}, run); d != time.Second {
		t.Errorf("fixed latency without jitter drew %v, want 1s", d)
	}
}

func instanceStates(t *testing.T, body []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, it := range decodeInstances(t, body).Items {
		out[it.ID] = fmt.Sprint(it.Name, "/", it.Code)
	}
	return out
}

func TestDelayedReadiness(t *testing.T) {
	moto := newFakeMoto(t)
	clock := newFakeClock()
	p := startProxy(t, moto.URL, withClock(clock.now), WithConfig(Config{Readiness: Readiness{
		InstancePending: 30 * time.Second, InstanceStopping: 20 * time.Second,
		InstanceShuttingDown: 10 * time.Second, ImagePending: 120 * time.Second,
	}}))

	// Untracked instances (launched before, or behind the proxy's back) keep moto's state.
	_, body := mustCall(t, p, "ec2", "DescribeInstances")
	if s := instanceStates(t, body); s[runningID] != "running/16" || s[stoppedID] != "stopped/80" || s[terminatedID] != "terminated/48" {
		t.Errorf("untracked: %v", s)
	}

	mustCall(t, p, "ec2", "RunInstances")
	mustCall(t, p, "ec2", "StopInstances", "InstanceId.1", stoppedID)
	mustCall(t, p, "ec2", "TerminateInstances", "InstanceId.1", terminatedID)
	mustCall(t, p, "ec2", "CreateImage", "InstanceId", runningID, "Name", "x")

	imageState := func() string {
		_, body := mustCall(t, p, "ec2", "DescribeImages")
		var v struct {
			State string `xml:"imagesSet>item>imageState"`
		}
		if err := xml.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		return v.State
	}
	steps := []struct {
		after                             time.Duration
		running, stopped, terminated, ami string
	}{
		{0, "pending/0", "stopping/64", "shutting-down/32", "pending"},
		{9 * time.Second, "pending/0", "stopping/64", "shutting-down/32", "pending"},
		{10 * time.Second, "pending/0", "stopping/64", "terminated/48", "pending"},
		{20 * time.Second, "pending/0", "stopped/80", "terminated/48", "pending"},
		{30 * time.Second, "running/16", "stopped/80", "terminated/48", "pending"},
		{120 * time.Second, "running/16", "stopped/80", "terminated/48", "available"},
	}
	var elapsed time.Duration
	for _, s := range steps {
		clock.advance(s.after - elapsed)
		elapsed = s.after
		_, body := mustCall(t, p, "ec2", "DescribeInstances")
		got := instanceStates(t, body)
		if got[runningID] != s.running || got[stoppedID] != s.stopped || got[terminatedID] != s.terminated {
			t.Errorf("after %v: %v, want %s %s %s", s.after, got, s.running, s.stopped, s.terminated)
		}
		if st := imageState(); st != s.ami {
			t.Errorf("after %v: AMI %s, want %s", s.after, st, s.ami)
		}
	}

	// A restart makes the instance pending again.
	mustCall(t, p, "ec2", "StartInstances", "InstanceId.1", runningID)
	_, body = mustCall(t, p, "ec2", "DescribeInstances")
	if s := instanceStates(t, body); s[runningID] != "pending/0" {
		t.Errorf("after StartInstances: %v", s)
	}
	// Reset forgets transitions.
	p.Reset()
	_, body = mustCall(t, p, "ec2", "DescribeInstances")
	if s := instanceStates(t, body); s[runningID] != "running/16" {
		t.Errorf("after Reset: %v", s)
	}
}

func TestClientTokenReplay(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL)

	_, first := mustCall(t, p, "ec2", "RunInstances", "ClientToken", "tok-1", "ImageId", "ami-1")
	status, again := mustCall(t, p, "ec2", "RunInstances", "ClientToken", "tok-1", "ImageId", "ami-1")
	if status != 200 || string(again) != string(first) {
		t.Errorf("repeat: HTTP %d, same reply %v", status, string(again) == string(first))
	}
	if moto.launched() != 1 {
		t.Errorf("moto launched %d times, want 1", moto.launched())
	}
	mustCall(t, p, "ec2", "RunInstances", "ClientToken", "tok-2", "ImageId", "ami-1")
	mustCall(t, p, "ec2", "RunInstances", "ImageId", "ami-1") // no token: never deduplicated
	if moto.launched() != 3 {
		t.Errorf("moto launched %d times, want 3", moto.launched())
	}

	status, body := mustCall(t, p, "ec2", "RunInstances", "ClientToken", "tok-1", "ImageId", "ami-2")
	var e ec2Error
	xml.Unmarshal(body, &e)
	if status != 400 || e.Code != "IdempotentParameterMismatch" {
		t.Errorf("token reused with other parameters: HTTP %d %s", status, body)
	}

	// Other actions with a ClientToken too.
	mustCall(t, p, "ec2", "CreateLaunchTemplate", "ClientToken", "lt", "LaunchTemplateName", "x")
	mustCall(t, p, "ec2", "CreateLaunchTemplate", "ClientToken", "lt", "LaunchTemplateName", "x")
	// The same token for another action is another token.
	mustCall(t, p, "ec2", "CreateVolume", "ClientToken", "lt", "Size", "8")
	if got := strings.Join(moto.calls(), " "); got != "RunInstances RunInstances RunInstances CreateLaunchTemplate CreateVolume" {
		t.Errorf("moto saw %s", got)
	}
	if p.Count("ec2", "RunInstances") != 5 || p.Injected()[KindReplay] != 2 {
		t.Errorf("counts %v injected %v", p.Counts(), p.Injected())
	}

	p.Reset()
	mustCall(t, p, "ec2", "RunInstances", "ClientToken", "tok-1", "ImageId", "ami-1")
	if moto.launched() != 4 {
		t.Errorf("after Reset the token was still remembered (%d launches)", moto.launched())
	}
}

func TestClientTokenFailedCallIsNotRemembered(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL)
	moto.mu.Lock()
	moto.fail["RunInstances"] = 500
	moto.mu.Unlock()
	if status, _ := mustCall(t, p, "ec2", "RunInstances", "ClientToken", "t"); status != 500 {
		t.Fatalf("first call: HTTP %d, want moto's 500", status)
	}
	if status, _ := mustCall(t, p, "ec2", "RunInstances", "ClientToken", "t"); status != 200 {
		t.Errorf("retry: HTTP %d", status)
	}
	if moto.launched() != 1 || len(moto.calls()) != 2 {
		t.Errorf("moto: %d launches, calls %q", moto.launched(), moto.calls())
	}
}

func TestClientTokenAfterLostReply(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{LoseReply: Fault{Rate: 1, Actions: []string{"RunInstances"}}}))
	if _, _, err := awsCall(p, "ec2", "RunInstances", "ClientToken", "t"); err == nil {
		t.Fatal("reply was not lost")
	}
	if err := p.SetConfig(Config{}); err != nil {
		t.Fatal(err)
	}
	status, body := mustCall(t, p, "ec2", "RunInstances", "ClientToken", "t")
	if status != 200 || !strings.Contains(string(body), runningID) {
		t.Errorf("retry: HTTP %d %s", status, body)
	}
	if moto.launched() != 1 {
		t.Errorf("moto launched %d instances, want 1", moto.launched())
	}
}

func TestClientTokenConcurrentRepeats(t *testing.T) {
	moto := newFakeMoto(t)
	// moto holds RunInstances until all eight calls have reached the proxy,
	// so the repeats arrive while the first is in flight however slow the
	// machine is.
	release := make(chan struct{})
	moto.mu.Lock()
	moto.hold = release
	moto.mu.Unlock()
	p := startProxy(t, moto.URL)
	var wg sync.WaitGroup
	bodies := make([]string, 8)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, err := awsCall(p, "ec2", "RunInstances", "ClientToken", "same")
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("call %d: %v", i, err)
				return
			}
			bodies[i] = string(body)
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.Count("ec2", "RunInstances") < len(bodies) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := p.Count("ec2", "RunInstances"); n != len(bodies) {
		t.Errorf("%d of %d calls reached the proxy in 30 s", n, len(bodies))
	}
	close(release)
	wg.Wait()
	if moto.launched() != 1 {
		t.Errorf("moto launched %d instances for one token", moto.launched())
	}
	if got := p.Injected()[KindReplay]; got != len(bodies)-1 {
		t.Errorf("%d repeats answered from the token memory, want %d", got, len(bodies)-1)
	}
	for i, b := range bodies {
		if b != bodies[0] {
			t.Errorf("reply %d differs", i)
		}
	}
}

func TestControlEndpoint(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL()+ControlPrefix+path, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}

	if code, out := do(http.MethodPut, "config", `{"throttle": {"rate": 1, "actions": ["RunInstances"]}, "latency": {"fixed": "1ms"}}`); code != 200 {
		t.Fatalf("PUT config: %d %s", code, out)
	}
	if cfg := p.Config(); cfg.Throttle.Rate != 1 || cfg.Latency.Fixed != time.Millisecond {
		t.Errorf("config after PUT: %+v", cfg)
	}
	code, out := do(http.MethodGet, "config", "")
	var cfg Config
	if err := json.Unmarshal([]byte(out), &cfg); code != 200 || err != nil || cfg.Throttle.Actions[0] != "RunInstances" {
		t.Errorf("GET config: %d %s %v", code, out, err)
	}
	if code, out := do(http.MethodPut, "config", `{"throttle": {"rate": 2}}`); code != 400 || !strings.Contains(out, "throttle.rate") {
		t.Errorf("bad config: %d %s", code, out)
	}
	if p.Config().Throttle.Rate != 1 {
		t.Error("a rejected config replaced the good one")
	}

	mustCall(t, p, "ec2", "RunInstances")
	mustCall(t, p, "ec2", "DescribeInstances")
	code, out = do(http.MethodGet, "counts", "")
	var counts countsJSON
	if err := json.Unmarshal([]byte(out), &counts); code != 200 || err != nil {
		t.Fatalf("GET counts: %d %s %v", code, out, err)
	}
	if counts.Calls["ec2:RunInstances"] != 1 || counts.Calls["ec2:DescribeInstances"] != 1 || counts.Total != 2 ||
		counts.Injected[KindThrottle] != 1 {
		t.Errorf("counts: %s", out)
	}
	if code, _ := do(http.MethodPost, "reset", ""); code != 200 || len(p.Counts()) != 0 {
		t.Errorf("reset: %d, counts %v", code, p.Counts())
	}
	if code, _ := do(http.MethodGet, "reset", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET reset: %d", code)
	}
	if code, _ := do(http.MethodGet, "nope", ""); code != 404 {
		t.Errorf("unknown control path: %d", code)
	}
	if len(moto.calls()) != 1 {
		t.Errorf("control calls reached moto: %q", moto.calls())
	}
}

// AWS refuses a second AMI of one name; moto does not, so the proxy does.
func TestCreateImageRefusesTakenName(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL)

	status, body := mustCall(t, p, "ec2", "CreateImage", "InstanceId", runningID, "Name", "bakery-test")
	var e ec2Error
	if err := xml.Unmarshal(body, &e); err != nil || status != http.StatusBadRequest || e.Code != "InvalidAMIName.Duplicate" {
		t.Fatalf("CreateImage of a taken name: HTTP %d %q, want 400 InvalidAMIName.Duplicate", status, e.Code)
	}
	if n := strings.Count(strings.Join(moto.calls(), ","), "CreateImage"); n != 0 {
		t.Errorf("moto got %d CreateImage calls for a taken name, want 0", n)
	}

	if status, _ := mustCall(t, p, "ec2", "CreateImage", "InstanceId", runningID, "Name", "fresh-name"); status != http.StatusOK {
		t.Fatalf("CreateImage of a free name: HTTP %d", status)
	}
	if n := strings.Count(strings.Join(moto.calls(), ","), "CreateImage"); n != 1 {
		t.Errorf("moto got %d CreateImage calls for a free name, want 1", n)
	}
}

func TestRateLimit(t *testing.T) {
	moto := newFakeMoto(t)
	clock := newFakeClock()
	p := startProxy(t, moto.URL, withClock(clock.now))
	if err := p.SetConfig(Config{RateLimit: RateLimit{PerSecond: 2, Burst: 3}}); err != nil {
		t.Fatal(err)
	}
	throttled := func(n int) int {
		count := 0
		for range n {
			if status, _ := mustCall(t, p, "ec2", "DescribeImages"); status == 400 {
				count++
			}
		}
		return count
	}
	if got := throttled(5); got != 2 {
		t.Errorf("5 calls at once with a burst of 3: %d throttled, want 2", got)
	}
	clock.advance(time.Second)
	if got := throttled(3); got != 1 {
		t.Errorf("a second later (2 tokens back): %d of 3 throttled, want 1", got)
	}
	clock.advance(time.Hour)
	if got := throttled(4); got != 1 {
		t.Errorf("after an idle hour the bucket holds only the burst: %d of 4 throttled, want 1", got)
	}
	if p.Injected()[KindThrottle] != 4 || len(moto.calls()) != 8 {
		t.Errorf("injected %v, %d calls reached moto; want 4 throttles and 8 forwarded", p.Injected(), len(moto.calls()))
	}
	if err := p.SetConfig(Config{RateLimit: RateLimit{PerSecond: 1}}); err == nil {
		t.Error("a rate without a burst was accepted")
	}
}
