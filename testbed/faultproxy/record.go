package faultproxy

import "net/url"

// maxRecorded bounds how many requests of one call are kept, so a long
// polling loop cannot grow the proxy without limit.
const maxRecorded = 64

// record keeps the parameters of a query-protocol request (EC2, STS, IAM)
// for Requests. The caller holds p.mu.
func (p *Proxy) record(req request) {
	if req.Params == nil {
		return
	}
	if p.sent == nil {
		p.sent = map[Call][]url.Values{}
	}
	if len(p.sent[req.Call]) < maxRecorded {
		p.sent[req.Call] = append(p.sent[req.Call], req.Params)
	}
}

// Requests returns the parameters of the first calls of service and action
// that reached the proxy since the last Reset, in order, as the client sent
// them (e.g. "BlockDeviceMapping.1.Ebs.Iops"). It lets a test check what a
// client asked for where the emulator drops the parameter instead of storing
// it. Only query-protocol calls are kept; at most 64 per action.
func (p *Proxy) Requests(service, action string) []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.sent[Call{service, action}]
	out := make([]url.Values, len(kept))
	for i, v := range kept {
		out[i] = url.Values{}
		for k, vs := range v {
			out[i][k] = append([]string(nil), vs...)
		}
	}
	return out
}
