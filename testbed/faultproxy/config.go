package faultproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Config says which faults the proxy injects. The zero Config injects
// nothing: the proxy then only counts calls and gives moto ClientToken
// idempotency. Change it at run time with SetConfig or PUT /_faultproxy/config.
type Config struct {
	// Seed seeds the random source that decides which calls a fault hits,
	// so a test that makes its calls in a fixed order sees the same faults on
	// every run. 0 picks a random seed. Every SetConfig starts the sequence
	// anew.
	Seed uint64 `json:"seed,omitempty"`

	// Throttle answers RequestLimitExceeded (EC2) or Throttling (STS, IAM
	// and the other query APIs) with HTTP 400; moto never sees the call.
	Throttle Fault `json:"throttle"`
	// ServerError answers HTTP 500 InternalError or 503 Unavailable (half
	// each); moto never sees the call.
	ServerError Fault `json:"server_error"`
	// Drop closes the connection without a reply before forwarding: the
	// call has no effect.
	Drop Fault `json:"drop"`
	// LoseReply forwards the call, so it takes effect, then closes the
	// connection without a reply: the client cannot know it worked.
	LoseReply Fault `json:"lose_reply"`
	// RateLimit throttles the calls above a rate, as AWS's account-wide
	// request limits do: unlike Throttle, how many calls it refuses depends
	// on how fast the clients call.
	RateLimit RateLimit `json:"rate_limit"`
	// Latency delays matching calls before anything else happens to them.
	Latency Latency `json:"latency"`
	// Readiness makes states change slowly, as on AWS, where moto changes
	// them at once.
	Readiness Readiness `json:"readiness"`
	// ImageDeprecation answers EC2 EnableImageDeprecation, which moto
	// lacks, and shows the deprecation time in DescribeImages replies (see
	// deprecation.go). Off, the call reaches moto and fails as before.
	ImageDeprecation bool `json:"image_deprecation,omitempty"`
	// Capacity refuses launches of some types or into some subnets, as EC2
	// does when it runs out of capacity (see capacity.go).
	Capacity Capacity `json:"capacity"`
}

// Fault hits each matching call with probability Rate.
type Fault struct {
	Rate float64 `json:"rate"` // 0 (never) … 1 (always)
	// Actions restricts the fault to these calls, each an action name
	// ("RunInstances") or service and action ("ec2:RunInstances"). Empty
	// means every AWS call.
	Actions []string `json:"actions,omitempty"`
	// Max stops the fault after it has hit this many calls since the last
	// SetConfig or Reset ("lose the first RunInstances reply"); 0 means no
	// limit.
	Max int `json:"max,omitempty"`
}

// RateLimit is a token bucket over all matching calls: PerSecond tokens
// come back each second, up to Burst; a call that finds no token is
// answered RequestLimitExceeded (counted as a throttle). PerSecond 0 turns
// it off.
type RateLimit struct {
	PerSecond float64  `json:"per_second"`
	Burst     int      `json:"burst"`
	Actions   []string `json:"actions,omitempty"` // as in Fault
}

// Latency delays every matching call by Fixed plus a uniformly random
// share of Jitter. In JSON the durations are Go duration strings ("250ms")
// or numbers of seconds.
type Latency struct {
	Fixed   time.Duration
	Jitter  time.Duration
	Actions []string // as in Fault
}

// Readiness holds how long a transition that moto makes at once should
// appear to take. The clock starts when the proxy relays the reply of the
// call that started the transition; calls that bypass the proxy are not seen.
// In JSON the durations are Go duration strings ("30s") or numbers of
// seconds.
type Readiness struct {
	// InstancePending: DescribeInstances (and DescribeInstanceStatus) show
	// a running instance as pending for this long after RunInstances or
	// StartInstances.
	InstancePending time.Duration
	// InstanceStopping: a stopped instance shows as stopping for this long
	// after StopInstances.
	InstanceStopping time.Duration
	// InstanceShuttingDown: a terminated instance shows as shutting-down
	// for this long after TerminateInstances.
	InstanceShuttingDown time.Duration
	// ImagePending: DescribeImages shows an available AMI as pending for
	// this long after CreateImage, CopyImage or RegisterImage.
	ImagePending time.Duration
}

// Validate reports every out-of-range field at once.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		f    Fault
	}{{"throttle", c.Throttle}, {"server_error", c.ServerError}, {"drop", c.Drop}, {"lose_reply", c.LoseReply}} {
		if math.IsNaN(f.f.Rate) || f.f.Rate < 0 || f.f.Rate > 1 {
			errs = append(errs, fmt.Errorf("%s.rate is %v; it must be between 0 and 1", f.name, f.f.Rate))
		}
		if f.f.Max < 0 {
			errs = append(errs, fmt.Errorf("%s.max is %d; it must not be negative", f.name, f.f.Max))
		}
		errs = append(errs, validateActions(f.name, f.f.Actions))
	}
	errs = append(errs, validateActions("latency", c.Latency.Actions))
	errs = append(errs, validateActions("rate_limit", c.RateLimit.Actions))
	if math.IsNaN(c.RateLimit.PerSecond) || math.IsInf(c.RateLimit.PerSecond, 0) || c.RateLimit.PerSecond < 0 {
		errs = append(errs, fmt.Errorf("rate_limit.per_second is %v; it must be a number ≥ 0", c.RateLimit.PerSecond))
	}
	if c.RateLimit.PerSecond > 0 && c.RateLimit.Burst < 1 {
		errs = append(errs, fmt.Errorf("rate_limit.burst is %d; with a rate it must be at least 1", c.RateLimit.Burst))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"latency.fixed", c.Latency.Fixed},
		{"latency.jitter", c.Latency.Jitter},
		{"readiness.instance_pending", c.Readiness.InstancePending},
		{"readiness.instance_stopping", c.Readiness.InstanceStopping},
		{"readiness.instance_shutting_down", c.Readiness.InstanceShuttingDown},
		{"readiness.image_pending", c.Readiness.ImagePending},
	} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("%s is %v; it must not be negative", d.name, d.d))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("faultproxy config: %w", err)
	}
	return nil
}

func validateActions(field string, actions []string) error {
	for _, a := range actions {
		if strings.TrimSpace(a) == "" || strings.Count(a, ":") > 1 {
			return fmt.Errorf("%s.actions has %q; want an action (RunInstances) or service:action (ec2:RunInstances)", field, a)
		}
	}
	return nil
}

// clone gives a Config that shares no slices with c.
func (c Config) clone() Config {
	c.Throttle.Actions = cloneStrings(c.Throttle.Actions)
	c.ServerError.Actions = cloneStrings(c.ServerError.Actions)
	c.Drop.Actions = cloneStrings(c.Drop.Actions)
	c.LoseReply.Actions = cloneStrings(c.LoseReply.Actions)
	c.Latency.Actions = cloneStrings(c.Latency.Actions)
	c.RateLimit.Actions = cloneStrings(c.RateLimit.Actions)
	return c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// jsonDuration is a time.Duration that reads "1.5s" or 1.5 (seconds) and
// writes "1.5s", so a shell script can configure the proxy with curl.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(data, &secs); err != nil {
		return fmt.Errorf("duration %s: want a string like \"1.5s\" or a number of seconds", data)
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > math.MaxInt64/float64(time.Second) {
		return fmt.Errorf("duration %s is out of range", data)
	}
	*d = jsonDuration(secs * float64(time.Second))
	return nil
}

// strictUnmarshal rejects unknown fields, so a misspelt option in a
// control request fails instead of silently injecting nothing.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type latencyJSON struct {
	Fixed   jsonDuration `json:"fixed"`
	Jitter  jsonDuration `json:"jitter"`
	Actions []string     `json:"actions,omitempty"`
}

func (l Latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(latencyJSON{jsonDuration(l.Fixed), jsonDuration(l.Jitter), l.Actions})
}

func (l *Latency) UnmarshalJSON(data []byte) error {
	var v latencyJSON
	if err := strictUnmarshal(data, &v); err != nil {
		return err
	}
	*l = Latency{time.Duration(v.Fixed), time.Duration(v.Jitter), v.Actions}
	return nil
}

type readinessJSON struct {
	InstancePending      jsonDuration `json:"instance_pending"`
	InstanceStopping     jsonDuration `json:"instance_stopping"`
	InstanceShuttingDown jsonDuration `json:"instance_shutting_down"`
	ImagePending         jsonDuration `json:"image_pending"`
}

func (r Readiness) MarshalJSON() ([]byte, error) {
	return json.Marshal(readinessJSON{
		jsonDuration(r.InstancePending), jsonDuration(r.InstanceStopping),
		jsonDuration(r.InstanceShuttingDown), jsonDuration(r.ImagePending),
	})
}

func (r *Readiness) UnmarshalJSON(data []byte) error {
	var v readinessJSON
	if err := strictUnmarshal(data, &v); err != nil {
		return err
	}
	*r = Readiness{
		time.Duration(v.InstancePending), time.Duration(v.InstanceStopping),
		time.Duration(v.InstanceShuttingDown), time.Duration(v.ImagePending),
	}
	return nil
}
