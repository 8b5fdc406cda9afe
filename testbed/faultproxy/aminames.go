package faultproxy

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
)

// AWS refuses a second AMI of the same name in an account and region
// (InvalidAMIName.Duplicate); moto makes one. That is what a retried
// CreateImage after a lost reply meets on AWS, so the proxy enforces it:
// it asks moto for an image of that name before forwarding CreateImage.

var imageIDPattern = regexp.MustCompile(`<imageId>(ami-[0-9a-f]+)</imageId>`)

// duplicateAMIName returns the ID of an existing image with the name a
// CreateImage asks for, or "".
func (p *Proxy) duplicateAMIName(r *http.Request, req request) (string, error) {
	name := req.Params.Get("Name")
	if name == "" {
		return "", nil
	}
	query := url.Values{
		"Action":           {"DescribeImages"},
		"Version":          {req.Params.Get("Version")},
		"Owner.1":          {"self"},
		"Filter.1.Name":    {"name"},
		"Filter.1.Value.1": {name},
	}
	return p.firstImage(r, query)
}

// firstImage asks moto, with the caller's own signed request as the
// template, for the DescribeImages of query and returns the first image's
// ID, or "".
func (p *Proxy) firstImage(r *http.Request, query url.Values) (string, error) {
	body := []byte(query.Encode())
	probe := resignable(r)
	probe.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	probe.ContentLength = int64(len(body))
	rep, err := p.forward(probe, body)
	if err != nil {
		return "", err
	}
	if rep.Status != http.StatusOK {
		return "", fmt.Errorf("DescribeImages answered HTTP %d", rep.Status)
	}
	if m := imageIDPattern.FindSubmatch(rep.Body); m != nil {
		return string(bytes.Clone(m[1])), nil
	}
	return "", nil
}
