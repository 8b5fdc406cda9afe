package faultproxy

import (
	"net/http"
	"net/url"
)

// LocalRequest is an AWS call the proxy offers to a Local answerer.
type LocalRequest struct {
	Call
	Region string
	// Params are the query-protocol parameters (EC2); nil for JSON calls.
	Params url.Values
	// Body is the request body (the JSON of JSON-protocol calls).
	Body   []byte
	DryRun bool
}

// LocalReply is a Local answerer's reply.
type LocalReply struct {
	Status      int
	ContentType string
	Body        []byte
}

// Local answers calls moto does not implement (the test-bed's stand-ins
// for Session Manager and EC2 Instance Connect Endpoint). ok false: not
// this answerer's call, forward it to moto.
type Local func(LocalRequest) (rep LocalReply, ok bool)

// SetLocal installs the answerer; nil removes it. Its calls are counted
// and faulted like moto's.
func (p *Proxy) SetLocal(l Local) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.local = l
}

// answerLocal asks the Local answerer, if any.
func (p *Proxy) answerLocal(req request, body []byte) (reply, bool) {
	p.mu.Lock()
	l := p.local
	p.mu.Unlock()
	if l == nil {
		return reply{}, false
	}
	lr, ok := l(LocalRequest{Call: req.Call, Region: req.Region, Params: req.Params, Body: body, DryRun: req.Params.Get("DryRun") == "true"})
	if !ok {
		return reply{}, false
	}
	h := http.Header{}
	h.Set("Content-Type", lr.ContentType)
	return reply{Status: lr.Status, Header: h, Body: lr.Body}, true
}
