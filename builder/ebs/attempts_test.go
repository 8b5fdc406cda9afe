package ebs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// The SDK's own retry loop, against a server that answers as EC2 does:
// attempts is told apart an attempt whose reply was lost (it may have
// taken effect) from one EC2 refused (it did nothing).
func TestAttemptsThroughTheSDKsRetries(t *testing.T) {
	for name, tc := range map[string]struct {
		first     func(w http.ResponseWriter)
		uncertain bool
	}{
		"lost reply": {first: func(w http.ResponseWriter) {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}, uncertain: true},
		"server error": {first: func(w http.ResponseWriter) {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`<Response><Errors><Error><Code>InternalError</Code><Message>x</Message></Error></Errors><RequestID>r1</RequestID></Response>`))
		}, uncertain: true},
		"throttled": {first: func(w http.ResponseWriter) {
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>x</Message></Error></Errors><RequestID>r1</RequestID></Response>`))
		}, uncertain: true}, // a 5xx: EC2 does not promise nothing happened
		"refused": {first: func(w http.ResponseWriter) {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>x</Message></Error></Errors><RequestID>r1</RequestID></Response>`))
		}},
		"first attempt": {},
	} {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 && tc.first != nil {
					tc.first(w)
					return
				}
				w.WriteHeader(400)
				_, _ = w.Write([]byte(`<Response><Errors><Error><Code>InvalidAMIName.Duplicate</Code><Message>taken</Message></Error></Errors><RequestID>r2</RequestID></Response>`))
			}))
			defer srv.Close()
			client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
			var sent attempts
			_, err := client.CreateImage(context.Background(), &ec2.CreateImageInput{InstanceId: aws.String("i-1"), Name: aws.String("web")},
				func(o *ec2.Options) { o.APIOptions = append(o.APIOptions, sent.apiOption) })
			if apiErrorCode(err) != "InvalidAMIName.Duplicate" {
				t.Fatalf("error %v, want the duplicate", err)
			}
			want := int32(2)
			if tc.first == nil {
				want = 1
			}
			if n.Load() != want || sent.sent != int(want) {
				t.Errorf("server saw %d attempts, attempts counted %d; want %d", n.Load(), sent.sent, want)
			}
			if got := sent.earlierMayHaveTakenEffect(); got != tc.uncertain {
				t.Errorf("an earlier attempt may have taken effect: %v, want %v", got, tc.uncertain)
			}
		})
	}
}
