// Package faultproxy is an HTTP reverse proxy for the test-bed that sits in
// front of moto and makes it behave more like AWS under stress: it injects
// throttling, 5xx errors, dropped connections, lost replies and latency at
// configurable rates, makes state transitions take time (an instance stays
// pending for N s), gives moto EC2's ClientToken idempotency, applies
// CreateImage's and CopyImage's tag specifications as EC2 does (imagetags.go),
// and counts calls by service and action.
//
// The proxy forwards only to a loopback upstream and listens only on
// 127.0.0.1. Other processes control it over HTTP on its own port:
//
//	GET  /_faultproxy/config   the current Config as JSON
//	PUT  /_faultproxy/config   replace it (POST works too)
//	GET  /_faultproxy/counts   {"calls": {"ec2:RunInstances": 3, …}, "injected": {"throttle": 1, …}}
//	POST /_faultproxy/reset    forget counts, tokens and state transitions
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/awslocal"
)

// Kind names an injected fault in Injected's counts.
type Kind string

const (
	KindThrottle    Kind = "throttle"
	KindServerError Kind = "server_error"
	KindDrop        Kind = "drop"
	KindLoseReply   Kind = "lose_reply"
	KindLatency     Kind = "latency"
	// KindReplay counts repeats answered from the ClientToken memory.
	KindReplay Kind = "replay"
)

// ControlPrefix is the path prefix of the control endpoint. moto serves
// nothing under it.
const ControlPrefix = "/_faultproxy/"

// maxBody bounds request bodies the proxy buffers; AWS query calls are far
// smaller.
const maxBody = 32 << 20

// forwardTimeout bounds one call to moto, which answers within seconds even
// under load.
const forwardTimeout = 2 * time.Minute

// Proxy is a running fault-injecting proxy. It is safe for concurrent use.
type Proxy struct {
	upstream  *url.URL
	transport *http.Transport
	listener  net.Listener
	server    *http.Server
	url       string
	logger    *log.Logger // nil: no log
	now       func() time.Time

	mu        sync.Mutex
	imageMu   sync.Mutex // serialises CreateImage's name check and call
	cfg       Config
	rng       *rand.Rand
	calls     map[Call]int
	dryRuns   map[Call]int // dry runs and IAM probes, which Counts leaves out
	injected  map[Kind]int
	sinceSet  map[Kind]int // hits since the last SetConfig or Reset, for Fault.Max
	tokens    map[tokenKey]*tokenEntry
	instances map[string]transition
	images    map[string]time.Time
	deprecate map[imageKey]time.Time // EnableImageDeprecation's, by region and AMI
	waits     map[string]*Wait       // by id and transition; see Waits
	requestN  uint64
	sent      map[Call][]url.Values // see Requests
	bucket    float64               // RateLimit's tokens
	bucketAt  time.Time             // when bucket was last filled

	local Local // see SetLocal

	closeOnce sync.Once
	closeErr  error
}

// Option configures Start.
type Option func(*Proxy)

// WithConfig sets the initial fault configuration.
func WithConfig(cfg Config) Option { return func(p *Proxy) { p.cfg = cfg.clone() } }

// WithLog writes a line for every injected fault and every reply the proxy
// could not parse to w.
func WithLog(w io.Writer) Option {
	return func(p *Proxy) {
		if w != nil {
			p.logger = log.New(w, "", log.LstdFlags|log.Lmicroseconds)
		}
	}
}

// withClock replaces the clock readiness is measured with (tests).
func withClock(now func() time.Time) Option { return func(p *Proxy) { p.now = now } }

// Start listens on a free 127.0.0.1 port and proxies to upstream, which must
// be a loopback http URL (moto's endpoint). Close it when done.
func Start(upstream string, opts ...Option) (*Proxy, error) {
	if err := awslocal.RequireLoopback(upstream); err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("faultproxy: upstream %q: want scheme://host:port only", upstream)
	}
	p := &Proxy{
		upstream:  &url.URL{Scheme: u.Scheme, Host: u.Host},
		transport: loopbackTransport(),
		now:       time.Now,
		calls:     map[Call]int{},
		dryRuns:   map[Call]int{},
		injected:  map[Kind]int{},
		sinceSet:  map[Kind]int{},
		tokens:    map[tokenKey]*tokenEntry{},
		instances: map[string]transition{},
		images:    map[string]time.Time{},
		deprecate: map[imageKey]time.Time{},
	}
	for _, o := range opts {
		o(p)
	}
	if err := p.cfg.Validate(); err != nil {
		return nil, err
	}
	p.rng = newRand(p.cfg.Seed)
	p.listener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p.url = "http://" + p.listener.Addr().String()
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.server.Serve(p.listener)
	return p, nil
}

// loopbackTransport refuses to dial anything but loopback, whatever the
// upstream URL turned into, and asks for uncompressed replies so they can
// be rewritten.
func loopbackTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil || !awslocal.IsLoopbackHost(host) {
				return nil, fmt.Errorf("faultproxy: refusing to dial %s: only loopback is allowed", addr)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		DisableCompression:  true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
}

func newRand(seed uint64) *rand.Rand {
	if seed == 0 {
		return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// URL is the proxy's endpoint, "http://127.0.0.1:PORT": give it to the SDK
// instead of moto's.
func (p *Proxy) URL() string { return p.url }

// Close stops the proxy and closes its connections. It is idempotent and
// safe on a nil Proxy.
func (p *Proxy) Close() error {
	if p == nil {
		return nil
	}
	p.closeOnce.Do(func() {
		if p.server != nil {
			p.closeErr = p.server.Close()
		}
		p.transport.CloseIdleConnections()
	})
	return p.closeErr
}

// SetConfig replaces the fault configuration and restarts the random
// sequence from cfg.Seed. Calls already past a decision are not affected.
func (p *Proxy) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg.clone()
	p.rng = newRand(cfg.Seed)
	p.sinceSet = map[Kind]int{}
	p.bucket, p.bucketAt = float64(cfg.RateLimit.Burst), p.now()
	return nil
}

// Config returns the current configuration.
func (p *Proxy) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.clone()
}

// Counts returns how many AWS calls reached the proxy, by service and
// action. Every attempt counts, so an SDK's retries show up here, and so do
// calls that a fault answered.
func (p *Proxy) Counts() map[Call]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Call]int, len(p.calls))
	for k, v := range p.calls {
		out[k] = v
	}
	return out
}

// DryRuns returns how many dry runs (DryRun=true, and the permission
// check's IAM probes) reached the proxy, by service and action. Counts
// leaves them out.
func (p *Proxy) DryRuns() map[Call]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Call]int, len(p.dryRuns))
	for k, v := range p.dryRuns {
		out[k] = v
	}
	return out
}

// Count is Counts()[Call{service, action}].
func (p *Proxy) Count(service, action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[Call{service, action}]
}

// Injected returns how many times each fault hit.
func (p *Proxy) Injected() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Kind]int, len(p.injected))
	for k, v := range p.injected {
		out[k] = v
	}
	return out
}

// Reset forgets call counts, remembered ClientTokens and the transitions
// readiness delays, as for a fresh moto, and restarts the Fault.Max budgets.
// The configuration stays.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = map[Call]int{}
	p.dryRuns = map[Call]int{}
	p.injected = map[Kind]int{}
	p.sinceSet = map[Kind]int{}
	p.tokens = map[tokenKey]*tokenEntry{}
	p.instances = map[string]transition{}
	p.images = map[string]time.Time{}
	p.deprecate = map[imageKey]time.Time{}
	p.sent = nil
	p.waits = map[string]*Wait{}
}

// reply is a complete HTTP reply, buffered so it can be rewritten,
// remembered for a ClientToken, or withheld.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// ServeHTTP handles one request: control calls itself, everything else by
// forwarding to moto with faults applied.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ControlPrefix) {
		p.serveControl(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, "faultproxy: read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxBody {
		http.Error(w, "faultproxy: request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	req, isAWS := parseRequest(r, body)
	if !isAWS {
		// moto's own API (/moto-api/reset) and anything unsigned: passed
		// through untouched and uncounted, so test set-up never fails.
		rep, err := p.forward(r, body)
		if err != nil {
			http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
			return
		}
		writeReply(w, rep)
		return
	}
	if req.Params.Get("DryRun") == "true" || isIAMProbe(req) {
		// A dry run changes nothing: it is not a call the faults and counts
		// are about (a lost reply "taking effect", a retried create). The
		// builder's permission check makes one of most calls before every
		// build; faulting those would use up a test's Max on them. They are
		// counted apart (DryRuns). AWS's request limits count dry runs too,
		// and so does RateLimit.
		p.mu.Lock()
		cfg := p.cfg
		p.dryRuns[req.Call]++
		p.mu.Unlock()
		if p.overRate(cfg.RateLimit, req.Call) {
			p.hit(KindThrottle, req, "dry run over the rate limit")
			writeReply(w, errorReply(req, errThrottle, "faultproxy-dry-run"))
			return
		}
		if rep, ok := p.answerLocal(req, body); ok {
			writeReply(w, rep)
			return
		}
		if cfg.ImageDeprecation && req.Service == "ec2" && req.Action == "EnableImageDeprecation" {
			writeReply(w, p.enableImageDeprecation(r, req, "faultproxy-dry-run"))
			return
		}
		rep, err := p.forward(r, body)
		if err != nil {
			http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
			return
		}
		writeReply(w, rep)
		return
	}
	p.serveAWS(w, r, req, body)
}

func (p *Proxy) serveAWS(w http.ResponseWriter, r *http.Request, req request, body []byte) {
	ctx := r.Context()
	p.mu.Lock()
	p.calls[req.Call]++
	p.record(req)
	p.requestN++
	requestID := fmt.Sprintf("faultproxy-%08d", p.requestN)
	cfg := p.cfg
	p.mu.Unlock()

	if d := p.latency(cfg.Latency, req.Call); d > 0 {
		p.count(KindLatency) // not logged: it may apply to every call
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	if p.overRate(cfg.RateLimit, req.Call) {
		p.hit(KindThrottle, req, "over the rate limit")
		writeReply(w, errorReply(req, errThrottle, requestID))
		return
	}
	if p.roll(KindDrop, cfg.Drop, req.Call) {
		p.hit(KindDrop, req, "")
		hangUp(w, true)
		return
	}
	if p.roll(KindThrottle, cfg.Throttle, req.Call) {
		p.hit(KindThrottle, req, "")
		writeReply(w, errorReply(req, errThrottle, requestID))
		return
	}
	if p.roll(KindServerError, cfg.ServerError, req.Call) {
		e := errInternal
		if p.roll("", Fault{Rate: 0.5}, req.Call) {
			e = errUnavailable
		}
		p.hit(KindServerError, req, e.Code)
		writeReply(w, errorReply(req, e, requestID))
		return
	}
	lose := p.roll(KindLoseReply, cfg.LoseReply, req.Call)

	rep, ok := p.answer(ctx, r, req, body, requestID)
	if !ok {
		return
	}
	if lose {
		p.hit(KindLoseReply, req, "after HTTP "+strconv.Itoa(rep.Status))
		hangUp(w, false)
		return
	}
	writeReply(w, rep)
}

// answer gets the reply to a call that no fault stopped: from the
// ClientToken memory or from moto. ok is false if the reply has been written
// already or the client is gone.
func (p *Proxy) answer(ctx context.Context, r *http.Request, req request, body []byte, requestID string) (rep reply, ok bool) {
	if rep, ok := p.answerLocal(req, body); ok {
		return rep, true
	}
	if req.Service == "ec2" && req.Action == "RunInstances" {
		if e, refused := p.Config().Capacity.refuse(req.Params); refused {
			p.hit(KindCapacity, req, e.Code)
			return errorReply(req, e, requestID), true
		}
	}
	key, hasToken := tokenOf(req)
	var owned *tokenEntry
	if hasToken {
		replay, e, err := p.claimToken(ctx, key, req.Params.Encode())
		switch {
		case errors.Is(err, errMismatch):
			p.logf("faultproxy: %s ClientToken %q reused with other parameters", req.Call, key.token)
			return errorReply(req, errParamMismatch, requestID), true
		case err != nil:
			return reply{}, false
		case replay != nil:
			p.hit(KindReplay, req, "ClientToken "+key.token)
			return *replay, true
		}
		owned = e
	}
	if req.Service == "ec2" && req.Action == "EnableImageDeprecation" && p.Config().ImageDeprecation {
		rep := p.enableImageDeprecation(r, req, requestID)
		if owned != nil {
			p.settleToken(key, owned, &rep)
		}
		return rep, true
	}
	if req.Service == "ec2" && req.Action == "CreateImage" {
		// Check and create as one step, so two racing calls cannot both pass.
		p.imageMu.Lock()
		defer p.imageMu.Unlock()
		existing, err := p.duplicateAMIName(r, req)
		if err != nil {
			p.logf("faultproxy: CreateImage: checking the name: %v", err)
		}
		if existing != "" {
			return errorReply(req, awsError{http.StatusBadRequest, "InvalidAMIName.Duplicate",
				fmt.Sprintf("AMI name %s is already in use by AMI %s", req.Params.Get("Name"), existing)}, requestID), true
		}
	}
	sent, later, refused := imageTagsAtCreation(req, body)
	if refused != nil {
		if owned != nil {
			p.settleToken(key, owned, nil)
		}
		return errorReply(req, *refused, requestID), true
	}
	if !bytes.Equal(sent, body) {
		r = resignable(r) // tag specifications taken out of the body
	}
	fwd, err := p.forward(r, sent)
	if err == nil && fwd.Status/100 == 2 && !later.empty() {
		if id, _ := topImageID(fwd.Body); id == "" {
			err = fmt.Errorf("no imageId in the reply to tag")
		} else {
			err = p.tagCreated(req, id, later)
		}
		if err != nil { // the reply stands only with the tags given
			p.logf("faultproxy: %s: tags at creation: %v; answered InternalError", req.Call, err)
			fwd, err = errorReply(req, errInternal, requestID), nil
		}
	}
	if err != nil {
		if owned != nil {
			p.settleToken(key, owned, nil)
		}
		p.logf("faultproxy: %s: forward to moto: %v", req.Call, err)
		if ctx.Err() != nil {
			return reply{}, false
		}
		return reply{Status: http.StatusBadGateway, Header: http.Header{}, Body: []byte("faultproxy: " + err.Error())}, true
	}
	if fwd.Status/100 == 2 {
		p.observe(req, fwd.Body)
	}
	if owned != nil {
		p.settleToken(key, owned, &fwd)
	}
	if fwd.Status == http.StatusOK {
		if b := p.showDeprecations(req, p.delayStates(req, fwd.Body)); !bytes.Equal(b, fwd.Body) {
			fwd = reply{Status: fwd.Status, Header: fwd.Header.Clone(), Body: b}
			fwd.Header.Set("Content-Length", strconv.Itoa(len(b)))
		}
	}
	return fwd, true
}

// hopHeaders are per-connection headers a proxy must not pass on.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// forward sends r (with the already-read body) to moto and reads the whole
// reply. The Host header stays the client's, so its SigV4 signature still
// matches.
func (p *Proxy) forward(r *http.Request, body []byte) (reply, error) {
	u := *p.upstream
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	// A call runs to completion even if its client hangs up meanwhile, as
	// on AWS; otherwise a ClientToken owner that gave up could have taken
	// effect in moto without the proxy remembering the reply.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), forwardTimeout)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	// Uncompressed, so replies can be rewritten.
	out.Header.Del("Accept-Encoding")
	out.Host = r.Host
	out.ContentLength = int64(len(body))
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("read reply: %w", err)
	}
	h := resp.Header.Clone()
	for _, k := range hopHeaders {
		h.Del(k)
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	return reply{Status: resp.StatusCode, Header: h, Body: data}, nil
}

func writeReply(w http.ResponseWriter, rep reply) {
	for k, vs := range rep.Header {
		w.Header()[k] = append([]string(nil), vs...)
	}
	w.WriteHeader(rep.Status)
	w.Write(rep.Body)
}

// hangUp closes the client's connection without a reply. reset sends a TCP
// RST instead of a FIN, as a connection dropped by a middlebox looks.
func hangUp(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 cannot hijack; aborting the handler resets the stream.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok && reset {
		tcp.SetLinger(0)
	}
	conn.Close()
}

// roll decides whether fault f (of kind k) hits call c, and if so counts
// the hit against f.Max. Rates 0 and 1 draw nothing, so turning one fault
// fully on or off leaves the others' sequence unchanged.
func (p *Proxy) roll(k Kind, f Fault, c Call) bool {
	if f.Rate <= 0 || !matches(f.Actions, c) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.Max > 0 && p.sinceSet[k] >= f.Max {
		return false
	}
	if f.Rate < 1 && p.rng.Float64() >= f.Rate {
		return false
	}
	p.sinceSet[k]++
	return true
}

// overRate takes a token from the RateLimit bucket and says whether there
// was none.
func (p *Proxy) overRate(l RateLimit, c Call) bool {
	if l.PerSecond <= 0 || !matches(l.Actions, c) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.bucket = min(float64(l.Burst), p.bucket+now.Sub(p.bucketAt).Seconds()*l.PerSecond)
	p.bucketAt = now
	if p.bucket < 1 {
		return true
	}
	p.bucket--
	return false
}

func (p *Proxy) latency(l Latency, c Call) time.Duration {
	if (l.Fixed <= 0 && l.Jitter <= 0) || !matches(l.Actions, c) {
		return 0
	}
	d := l.Fixed
	if l.Jitter > 0 {
		p.mu.Lock()
		d += time.Duration(p.rng.Int64N(int64(l.Jitter)))
		p.mu.Unlock()
	}
	return d
}

func (p *Proxy) count(k Kind) {
	p.mu.Lock()
	p.injected[k]++
	p.mu.Unlock()
}

// hit counts and logs an injected fault.
func (p *Proxy) hit(k Kind, req request, detail string) {
	p.count(k)
	if detail != "" {
		detail = " (" + detail + ")"
	}
	p.logf("faultproxy: %s %s: %s%s", req.Region, req.Call, k, detail)
}

func (p *Proxy) logf(format string, args ...any) {
	if p.logger != nil {
		p.logger.Printf(format, args...)
	}
}

// iamProbePrefix names the role and profile the builder's permission check
// asks IAM about (IAM has no DryRun): they never exist, and those calls are
// dry runs in all but name.
const iamProbePrefix = "packer_bakery_permission_check_"

func isIAMProbe(req request) bool {
	if req.Service != "iam" {
		return false
	}
	return strings.HasPrefix(req.Params.Get("RoleName"), iamProbePrefix) ||
		strings.HasPrefix(req.Params.Get("InstanceProfileName"), iamProbePrefix)
}
