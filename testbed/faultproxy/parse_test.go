package faultproxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func authHeader(service, region string) string {
	return "AWS4-HMAC-SHA256 Credential=testing/20260101/" + region + "/" + service +
		"/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0123abcd"
}

func TestParseRequest(t *testing.T) {
	form := "application/x-www-form-urlencoded; charset=utf-8"
	tests := []struct {
		name    string
		target  string
		headers map[string]string
		body    string
		want    request
		wantAWS bool
	}{
		{
			name:    "ec2 query",
			headers: map[string]string{"Authorization": authHeader("ec2", "eu-west-1"), "Content-Type": form},
			body:    "Action=RunInstances&Version=2016-11-15&ClientToken=abc",
			want:    request{Call: Call{"ec2", "RunInstances"}, Region: "eu-west-1", AccessKey: "testing"},
			wantAWS: true,
		},
		{
			name:    "sts query",
			headers: map[string]string{"Authorization": authHeader("sts", "us-east-1"), "Content-Type": form},
			body:    "Action=GetCallerIdentity&Version=2011-06-15",
			want:    request{Call: Call{"sts", "GetCallerIdentity"}, Region: "us-east-1", AccessKey: "testing"},
			wantAWS: true,
		},
		{
			name:    "iam action in URL query",
			target:  "/?Action=GetRole&RoleName=x",
			headers: map[string]string{"Authorization": authHeader("iam", "us-east-1")},
			want:    request{Call: Call{"iam", "GetRole"}, Region: "us-east-1", AccessKey: "testing"},
			wantAWS: true,
		},
		{
			name:    "json protocol",
			headers: map[string]string{"Authorization": authHeader("ssm", "us-east-1"), "X-Amz-Target": "AmazonSSM.GetParameter", "Content-Type": "application/x-amz-json-1.1"},
			body:    `{"Name":"x"}`,
			want:    request{Call: Call{"ssm", "GetParameter"}, Region: "us-east-1", AccessKey: "testing", JSON: true},
			wantAWS: true,
		},
		{
			name:    "presigned",
			target:  "/?Action=GetCallerIdentity&X-Amz-Credential=AKID%2F20260101%2Fus-west-2%2Fsts%2Faws4_request",
			want:    request{Call: Call{"sts", "GetCallerIdentity"}, Region: "us-west-2", AccessKey: "AKID"},
			wantAWS: true,
		},
		{name: "moto api", target: "/moto-api/reset"},
		{name: "sigv2", headers: map[string]string{"Authorization": "AWS AKID:sig"}},
		{name: "bad scope", headers: map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/ec2, Signature=x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = "/"
			}
			r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(tt.body))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			got, ok := parseRequest(r, []byte(tt.body))
			if ok != tt.wantAWS {
				t.Fatalf("AWS call = %v, want %v", ok, tt.wantAWS)
			}
			got.Params = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	run := Call{"ec2", "RunInstances"}
	tests := []struct {
		actions []string
		want    bool
	}{
		{nil, true},
		{[]string{"RunInstances"}, true},
		{[]string{"DescribeInstances", "ec2:RunInstances"}, true},
		{[]string{"EC2:RunInstances"}, true},
		{[]string{"sts:RunInstances"}, false},
		{[]string{"runinstances"}, false},
		{[]string{"DescribeInstances"}, false},
	}
	for _, tt := range tests {
		if got := matches(tt.actions, run); got != tt.want {
			t.Errorf("matches(%q, %v) = %v", tt.actions, run, got)
		}
	}
}

func TestConfigJSON(t *testing.T) {
	in := `{
		"seed": 7,
		"throttle": {"rate": 0.3, "actions": ["RunInstances"]},
		"server_error": {"rate": 0.1},
		"lose_reply": {"rate": 1, "actions": ["ec2:RunInstances"]},
		"latency": {"fixed": "20ms", "jitter": 0.5},
		"readiness": {"instance_pending": "30s", "image_pending": 120}
	}`
	cfg, err := decodeConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Seed != 7 || cfg.Throttle.Rate != 0.3 || cfg.Throttle.Actions[0] != "RunInstances" ||
		cfg.ServerError.Rate != 0.1 || cfg.Drop.Rate != 0 || cfg.LoseReply.Rate != 1 ||
		cfg.Latency.Fixed != 20*time.Millisecond || cfg.Latency.Jitter != 500*time.Millisecond ||
		cfg.Readiness.InstancePending != 30*time.Second || cfg.Readiness.ImagePending != 2*time.Minute {
		t.Errorf("decoded %+v", cfg)
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeConfig(strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("decode own output %s: %v", out, err)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip: %+v → %s → %+v", cfg, out, back)
	}
}

func TestConfigRejects(t *testing.T) {
	tests := map[string]string{
		"unknown fault":           `{"throttling": {"rate": 0.3}}`,
		"unknown latency field":   `{"latency": {"fixd": "1s"}}`,
		"unknown readiness field": `{"readiness": {"instance_running": "1s"}}`,
		"bad duration":            `{"latency": {"fixed": "soon"}}`,
		"rate above 1":            `{"throttle": {"rate": 30}}`,
		"negative rate":           `{"drop": {"rate": -0.1}}`,
		"negative duration":       `{"readiness": {"image_pending": "-1s"}}`,
		"empty action":            `{"lose_reply": {"rate": 1, "actions": [""]}}`,
		"not json":                `throttle=0.3`,
	}
	for name, in := range tests {
		cfg, err := decodeConfig(strings.NewReader(in))
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			t.Errorf("%s: %s accepted", name, in)
		}
	}
}

// The snapshot specifications leave a CreateImage's body, numbered again;
// CopyImage's stay (moto ignores them) and come back as tags to give.
func TestImageTagsAtCreation(t *testing.T) {
	params := url.Values{
		"Action": {"CreateImage"}, "InstanceId": {"i-1"},
		"TagSpecification.1.ResourceType": {"snapshot"}, "TagSpecification.1.Tag.1.Key": {"a"}, "TagSpecification.1.Tag.1.Value": {"1"},
		"TagSpecification.2.ResourceType": {"image"}, "TagSpecification.2.Tag.1.Key": {"b"}, "TagSpecification.2.Tag.1.Value": {"2"},
		"TagSpecification.2.Tag.2.Key": {"c"}, "TagSpecification.2.Tag.2.Value": {"3"},
	}
	req := request{Call: Call{"ec2", "CreateImage"}, Params: params}
	sent, later, refused := imageTagsAtCreation(req, []byte(params.Encode()))
	if refused != nil {
		t.Fatal(refused)
	}
	got, _ := url.ParseQuery(string(sent))
	want := url.Values{"Action": {"CreateImage"}, "InstanceId": {"i-1"},
		"TagSpecification.1.ResourceType": {"image"}, "TagSpecification.1.Tag.1.Key": {"b"}, "TagSpecification.1.Tag.1.Value": {"2"},
		"TagSpecification.1.Tag.2.Key": {"c"}, "TagSpecification.1.Tag.2.Value": {"3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("forwarded %v, want %v", got, want)
	}
	if len(later.image) != 0 || len(later.snapshot) != 1 || *later.snapshot[0].Key != "a" || *later.snapshot[0].Value != "1" {
		t.Errorf("left to the proxy: %+v", later)
	}

	params.Set("Action", "CopyImage")
	body := []byte(params.Encode())
	sent, later, _ = imageTagsAtCreation(request{Call: Call{"ec2", "CopyImage"}, Params: params}, body)
	if string(sent) != string(body) || len(later.image) != 2 || len(later.snapshot) != 1 {
		t.Errorf("CopyImage: forwarded %s, left %+v", sent, later)
	}
	params.Set("TagSpecification.1.ResourceType", "instance")
	if _, _, refused := imageTagsAtCreation(request{Call: Call{"ec2", "CopyImage"}, Params: params}, nil); refused == nil || refused.Code != "InvalidParameterValue" {
		t.Errorf("CopyImage tagging an instance: %v", refused)
	}
	// Other calls, and calls without snapshot tags, pass as they are.
	plain := url.Values{"Action": {"CreateImage"}, "TagSpecification.1.ResourceType": {"image"}, "TagSpecification.1.Tag.1.Key": {"b"}, "TagSpecification.1.Tag.1.Value": {"2"}}
	if sent, later, _ := imageTagsAtCreation(request{Call: Call{"ec2", "CreateImage"}, Params: plain}, []byte("as-sent")); string(sent) != "as-sent" || !later.empty() {
		t.Errorf("CreateImage with image tags only: forwarded %s, left %+v", sent, later)
	}
}
