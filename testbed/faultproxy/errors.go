package faultproxy

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
)

// awsError is an error reply in the shape the caller's SDK parses for its
// protocol, so its retryer classifies it as it would a real one.
type awsError struct {
	Status  int
	Code    string // EC2's code; errorReply maps it for other services
	Message string
}

var (
	errThrottle    = awsError{http.StatusBadRequest, "RequestLimitExceeded", "Request limit exceeded."}
	errInternal    = awsError{http.StatusInternalServerError, "InternalError", "An internal error has occurred."}
	errUnavailable = awsError{http.StatusServiceUnavailable, "Unavailable", "The server is overloaded and cannot handle the request."}
)

// Codes STS, IAM and the other query and JSON services use for the same
// conditions as EC2's.
var nonEC2Codes = map[string]string{
	"RequestLimitExceeded": "Throttling",
	"InternalError":        "InternalFailure",
	"Unavailable":          "ServiceUnavailable",
}

var jsonCodes = map[string]string{
	"RequestLimitExceeded": "ThrottlingException",
	"InternalError":        "InternalServerError",
	"Unavailable":          "ServiceUnavailableException",
}

// Namespaces of the query-protocol error replies moto and AWS send.
var errorNamespaces = map[string]string{
	"sts": "https://sts.amazonaws.com/doc/2011-06-15/",
	"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
}

// ec2ErrorXML is EC2's query error format.
type ec2ErrorXML struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

// queryErrorXML is the awsquery error format of STS, IAM and the rest.
type queryErrorXML struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// errorReply renders e for req's service and protocol.
func errorReply(req request, e awsError, requestID string) reply {
	h := http.Header{}
	h.Set("X-Amzn-Requestid", requestID)
	var body []byte
	switch {
	case req.JSON:
		code := jsonCodes[e.Code]
		h.Set("Content-Type", "application/x-amz-json-1.1")
		h.Set("X-Amzn-Errortype", code)
		body, _ = json.Marshal(map[string]string{"__type": code, "message": e.Message})
	case req.Service == "ec2":
		h.Set("Content-Type", "text/xml;charset=UTF-8")
		body = xmlDoc(ec2ErrorXML{Code: e.Code, Message: e.Message, RequestID: requestID})
	default:
		kind := "Sender"
		if e.Status >= 500 {
			kind = "Receiver"
		}
		h.Set("Content-Type", "text/xml")
		body = xmlDoc(queryErrorXML{
			Xmlns: errorNamespaces[req.Service], Type: kind,
			Code: nonEC2Codes[e.Code], Message: e.Message, RequestID: requestID,
		})
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return reply{Status: e.Status, Header: h, Body: body}
}

func xmlDoc(v any) []byte {
	out, err := xml.Marshal(v)
	if err != nil {
		panic("faultproxy: marshal error reply: " + err.Error()) // fixed structs of strings
	}
	return append([]byte(xml.Header), out...)
}
