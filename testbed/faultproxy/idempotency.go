package faultproxy

import (
	"context"
	"errors"
	"net/http"
)

// EC2 makes a call that carries a ClientToken idempotent: a repeat with the
// same token (same account, region and action) returns the first call's
// result without doing anything again, and a repeat with other parameters
// fails with IdempotentParameterMismatch. moto ignores the token, so the
// proxy remembers successful replies by token and answers repeats itself.
// That covers RunInstances, CreateLaunchTemplate, CreateFleet, CopyImage,
// CreateVolume and every other EC2 action with a ClientToken.

type tokenKey struct {
	accessKey, region, action, token string
}

// tokenEntry is one token's first call. done is closed once it has a
// reply; repeats that arrive while it is in flight wait for it.
type tokenEntry struct {
	params string // canonical form parameters of the first call
	done   chan struct{}
	reply  *reply // set before done closes if the call succeeded
}

var errParamMismatch = awsError{http.StatusBadRequest, "IdempotentParameterMismatch",
	"The client token you have provided is associated with a request that had different parameters."}

func tokenOf(req request) (tokenKey, bool) {
	if req.Service != "ec2" || req.Params == nil {
		return tokenKey{}, false
	}
	tok := req.Params.Get("ClientToken")
	if tok == "" {
		return tokenKey{}, false
	}
	return tokenKey{req.AccessKey, req.Region, req.Action, tok}, true
}

// claimToken returns either the reply to answer a repeat with (replay), or
// an entry the caller now owns and must settle with settleToken after
// forwarding. A first call that failed leaves no trace, as on AWS: the
// next repeat is forwarded.
func (p *Proxy) claimToken(ctx context.Context, key tokenKey, params string) (replay *reply, owned *tokenEntry, err error) {
	for {
		p.mu.Lock()
		e := p.tokens[key]
		if e == nil {
			e = &tokenEntry{params: params, done: make(chan struct{})}
			p.tokens[key] = e
			p.mu.Unlock()
			return nil, e, nil
		}
		p.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if e.reply != nil {
			if e.params != params {
				return nil, nil, errMismatch
			}
			return e.reply, nil, nil
		}
		// The first call failed and settleToken removed it; try to own it.
	}
}

// errMismatch: the token's first call had other parameters.
var errMismatch = errors.New("ClientToken reused with other parameters")

// settleToken stores rep for later repeats if the call succeeded, forgets
// the token otherwise, and releases the repeats waiting on it.
func (p *Proxy) settleToken(key tokenKey, e *tokenEntry, rep *reply) {
	p.mu.Lock()
	if rep != nil && rep.Status/100 == 2 {
		e.reply = rep
	} else if p.tokens[key] == e {
		delete(p.tokens, key)
	}
	p.mu.Unlock()
	close(e.done)
}
