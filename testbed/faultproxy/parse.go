package faultproxy

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Call names an AWS API call: the SigV4 signing name of its service ("ec2",
// "sts", "iam") and its action ("RunInstances").
type Call struct {
	Service string
	Action  string
}

func (c Call) String() string { return c.Service + ":" + c.Action }

// request is what the proxy learnt about one incoming AWS call.
type request struct {
	Call
	Region    string
	AccessKey string     // the caller, for ClientToken scoping
	Params    url.Values // query-protocol parameters; nil for other protocols
	JSON      bool       // JSON protocol (X-Amz-Target), for error replies
}

// parseRequest reads service, region and caller from the SigV4 credential
// scope (Authorization header, or X-Amz-Credential of a presigned URL) and the
// action from the query-protocol form (EC2, STS, IAM), the URL query, or
// X-Amz-Target (JSON protocol: KMS, SSM). ok is false for requests that
// carry no credential scope: those are not AWS calls (moto's own /moto-api/).
func parseRequest(r *http.Request, body []byte) (req request, ok bool) {
	scope := credentialFromAuthorization(r.Header.Get("Authorization"))
	if scope == "" {
		scope = r.URL.Query().Get("X-Amz-Credential")
	}
	// AKID/yyyymmdd/region/service/aws4_request
	parts := strings.Split(scope, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[3] == "" {
		return request{}, false
	}
	req.AccessKey, req.Region, req.Service = parts[0], parts[2], parts[3]

	if isForm(r.Header.Get("Content-Type")) {
		if v, err := url.ParseQuery(string(body)); err == nil {
			req.Params = v
			req.Action = v.Get("Action")
		}
	}
	if req.Action == "" {
		if q := r.URL.Query(); q.Get("Action") != "" {
			req.Params = q
			req.Action = q.Get("Action")
		}
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		req.JSON = true
		if req.Action == "" {
			// "AmazonSSM.GetParameter", "TrentService.Decrypt"
			req.Action = target[strings.LastIndexByte(target, '.')+1:]
		}
	}
	return req, true
}

// credentialFromAuthorization returns the Credential= value of a SigV4
// Authorization header, or "".
func credentialFromAuthorization(h string) string {
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != "AWS4-HMAC-SHA256" {
		return ""
	}
	for _, field := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if ok && k == "Credential" {
			return v
		}
	}
	return ""
}

func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// matches reports whether a fault restricted to actions applies to c.
func matches(actions []string, c Call) bool {
	if len(actions) == 0 {
		return true
	}
	for _, a := range actions {
		if svc, act, ok := strings.Cut(a, ":"); ok {
			if strings.EqualFold(svc, c.Service) && act == c.Action {
				return true
			}
		} else if a == c.Action {
			return true
		}
	}
	return false
}
