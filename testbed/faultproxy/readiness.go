package faultproxy

import (
	"time"
)

// transition is the last state change the proxy saw asked for an instance.
type transition struct {
	kind transitionKind
	at   time.Time
}

type transitionKind int

const (
	launching   transitionKind = iota // RunInstances, StartInstances: pending → running
	stopping                          // StopInstances: stopping → stopped
	terminating                       // TerminateInstances: shutting-down → terminated
)

// EC2 instance state codes.
const (
	codePending      = 0
	codeShuttingDown = 32
	codeStopping     = 64
)

// observe records the transitions a successful reply started.
func (p *Proxy) observe(req request, body []byte) {
	if req.Service != "ec2" {
		return
	}
	var kind transitionKind
	switch req.Action {
	case "RunInstances", "StartInstances":
		kind = launching
	case "StopInstances":
		kind = stopping
	case "TerminateInstances":
		kind = terminating
	case "CreateImage", "CopyImage", "RegisterImage":
		id, err := topImageID(body)
		if err != nil || id == "" {
			p.logf("faultproxy: %s reply: no imageId (%v); its readiness is not delayed", req.Call, err)
			return
		}
		p.mu.Lock()
		p.images[id] = p.now()
		p.mu.Unlock()
		return
	default:
		return
	}
	ids, err := instanceIDs(body)
	if err != nil {
		p.logf("faultproxy: %s reply: %v; readiness of its instances is not delayed", req.Call, err)
		return
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.instances[id] = transition{kind, now}
	}
}

// delayStates rewrites the state fields of a successful describe reply so
// that transitions take as long as Config.Readiness says.
func (p *Proxy) delayStates(req request, body []byte) []byte {
	if req.Service != "ec2" {
		return body
	}
	p.mu.Lock()
	r := p.cfg.Readiness
	tracked := len(p.instances) > 0 || len(p.images) > 0
	p.mu.Unlock()
	if !tracked || r == (Readiness{}) {
		return body
	}
	var out []byte
	var err error
	switch req.Action {
	case "DescribeInstances", "DescribeInstanceStatus":
		out, err = rewriteInstanceStates(body, func(id, name string) (string, int, bool) {
			return p.instanceState(r, id, name)
		})
	case "DescribeImages":
		out, err = rewriteImageStates(body, func(id, state string) (string, bool) {
			return p.imageState(r, id, state)
		})
	default:
		return body
	}
	if err != nil {
		p.logf("faultproxy: %s reply is not well-formed XML (%v); passed on unchanged", req.Call, err)
		return body
	}
	return out
}

// instanceState maps moto's final state back to the transitional one while
// the transition's time has not yet run out.
func (p *Proxy) instanceState(r Readiness, id, name string) (string, int, bool) {
	p.mu.Lock()
	t, ok := p.instances[id]
	p.mu.Unlock()
	if !ok {
		return "", 0, false
	}
	elapsed := p.now().Sub(t.at)
	switch {
	case t.kind == launching && name == "running":
		p.sighting(id, "instance running", t.at, r.InstancePending, elapsed < r.InstancePending)
	case t.kind == stopping && name == "stopped":
		p.sighting(id, "instance stopped", t.at, r.InstanceStopping, elapsed < r.InstanceStopping)
	case t.kind == terminating && name == "terminated":
		p.sighting(id, "instance terminated", t.at, r.InstanceShuttingDown, elapsed < r.InstanceShuttingDown)
	}
	switch {
	case t.kind == launching && name == "running" && elapsed < r.InstancePending:
		return "pending", codePending, true
	case t.kind == stopping && name == "stopped" && elapsed < r.InstanceStopping:
		return "stopping", codeStopping, true
	case t.kind == terminating && name == "terminated" && elapsed < r.InstanceShuttingDown:
		return "shutting-down", codeShuttingDown, true
	}
	return "", 0, false
}

func (p *Proxy) imageState(r Readiness, id, state string) (string, bool) {
	p.mu.Lock()
	at, ok := p.images[id]
	p.mu.Unlock()
	if ok && state == "available" {
		p.sighting(id, "image available", at, r.ImagePending, p.now().Sub(at) < r.ImagePending)
	}
	if ok && state == "available" && p.now().Sub(at) < r.ImagePending {
		return "pending", true
	}
	return "", false
}
