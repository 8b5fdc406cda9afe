package faultproxy

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// moto has no EnableImageDeprecation (up to 5.2.5). With
// Config.ImageDeprecation the proxy answers it as EC2's API reference
// describes: parameters ImageId and DeprecateAt (UTC, seconds rounded to
// the minute, not in the past, at most 10 years ahead), and a reply of
// <EnableImageDeprecationResponse><requestId/><return>true</return>. It
// remembers the time and adds <deprecationTime> to that AMI's item in later
// DescribeImages replies; a DryRun call is checked the same way and
// answered DryRunOperation (HTTP 412). It proves what the caller sends and that it reads
// the deprecation back; it cannot prove EC2's own checks beyond those (the
// error code AWS gives for a past time is not documented: this answers
// InvalidParameterValue), nor that a deprecated AMI drops out of
// non-owner searches.

// imageKey names an AMI: IDs are only unique within a region.
type imageKey struct{ region, id string }

// maxDeprecateAhead is EC2's upper limit for DeprecateAt.
const maxDeprecateAhead = 10 * 365 * 24 * time.Hour

type enableImageDeprecationXML struct {
	XMLName   xml.Name `xml:"EnableImageDeprecationResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	Return    bool     `xml:"return"`
}

func (p *Proxy) enableImageDeprecation(r *http.Request, req request, requestID string) reply {
	id, raw := req.Params.Get("ImageId"), req.Params.Get("DeprecateAt")
	if id == "" || raw == "" {
		return errorReply(req, awsError{http.StatusBadRequest, "MissingParameter", "The request must contain the parameters ImageId and DeprecateAt"}, requestID)
	}
	at, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return errorReply(req, awsError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter DeprecateAt is invalid", raw)}, requestID)
	}
	at = at.UTC().Round(time.Minute)
	now := p.now()
	if at.Before(now.Truncate(time.Minute)) || at.After(now.Add(maxDeprecateAhead)) {
		return errorReply(req, awsError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("DeprecateAt %s must be in the future and at most 10 years from now", raw)}, requestID)
	}
	found, err := p.firstImage(r, url.Values{
		"Action":    {"DescribeImages"},
		"Version":   {req.Params.Get("Version")},
		"ImageId.1": {id},
	})
	if err != nil && !strings.Contains(err.Error(), "HTTP 400") {
		return errorReply(req, errInternal, requestID)
	}
	if found != id {
		return errorReply(req, awsError{http.StatusBadRequest, "InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id)}, requestID)
	}
	if req.Params.Get("DryRun") == "true" {
		return errorReply(req, awsError{http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."}, requestID)
	}
	p.mu.Lock()
	p.deprecate[imageKey{req.Region, id}] = at
	p.mu.Unlock()
	body := xmlDoc(enableImageDeprecationXML{Xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", RequestID: requestID, Return: true})
	h := http.Header{}
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return reply{Status: http.StatusOK, Header: h, Body: body}
}

// showDeprecations adds <deprecationTime> to the DescribeImages items of
// AMIs deprecated through the stand-in.
func (p *Proxy) showDeprecations(req request, body []byte) []byte {
	if req.Service != "ec2" || req.Action != "DescribeImages" {
		return body
	}
	p.mu.Lock()
	times := map[string]time.Time{}
	for k, at := range p.deprecate {
		if k.region == req.Region {
			times[k.id] = at
		}
	}
	p.mu.Unlock()
	if len(times) == 0 {
		return body
	}
	var edits []edit
	var id string
	var has bool
	err := walkLeaves(body, func(l leaf, isLeaf bool) {
		n := len(l.path)
		switch {
		case isLeaf && n >= 3 && hasSuffix(l.path[:n-1], "imagesSet", "item"):
			switch l.path[n-1] {
			case "imageId":
				id = strings.TrimSpace(l.text)
			case "deprecationTime":
				has = true
			}
		case hasSuffix(l.path, "imagesSet", "item"):
			if at, ok := times[id]; ok && !has {
				edits = append(edits, edit{l.end, l.end, "<deprecationTime>" + at.Format("2006-01-02T15:04:05.000Z") + "</deprecationTime>"})
			}
			id, has = "", false
		}
	})
	if err != nil {
		p.logf("faultproxy: %s reply is not well-formed XML (%v); passed on unchanged", req.Call, err)
		return body
	}
	return applyEdits(body, edits)
}
