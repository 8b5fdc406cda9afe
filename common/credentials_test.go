package common

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func TestMaskAccessKeyID(t *testing.T) {
	for id, want := range map[string]string{
		"AKIAIOSFODNN7EXAMPLE": "AKIA…MPLE",
		"ASIA1234567890ABCDEF": "ASIA…CDEF",
		"AKIDBAKERYE2E":        "AKID…", // short: no last 4
		"testing":              "…",
		"":                     "(empty)",
	} {
		got := MaskAccessKeyID(id)
		if got != want {
			t.Errorf("MaskAccessKeyID(%q) = %q, want %q", id, got, want)
		}
		if len(id) >= 8 && strings.Contains(got, id) {
			t.Errorf("MaskAccessKeyID(%q) shows the whole ID", id)
		}
	}
}

// TestCredentialChainMatchesSDK: for each setup, the source the build
// reports is the row of docs/credentials.md's precedence table (read from
// the docs, not from the code) of the provider aws-sdk-go-v2 built, and the
// SDK reports that provider as expected.
func TestCredentialChainMatchesSDK(t *testing.T) {
	const keys = "aws_access_key_id = AKIAPROFILEEXAMPLE00\naws_secret_access_key = p\n"
	tests := []struct {
		name       string
		access     AccessConfig
		env        map[string]string
		config     string
		creds      string
		wantEntry  int    // 1-based position in credentialChain
		wantSDK    string // first aws.CredentialSource the SDK reports
		wantDetail string
	}{
		{
			name:   "template keys beat the environment",
			access: AccessConfig{AccessKey: "AKIATEMPLATEEXAMPLE0", SecretKey: "s"},
			env:    map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"},
			creds:  "[default]\n" + keys, wantEntry: 1, wantSDK: "Code", wantDetail: "template `access_key` AKIA…PLE0",
		},
		{
			name:   "template profile beats environment keys",
			access: AccessConfig{Profile: "p"},
			env:    map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"},
			creds:  "[p]\n" + keys, wantEntry: 2, wantSDK: "Profile", wantDetail: "profile p (template `profile`)",
		},
		{
			name:  "environment keys beat AWS_PROFILE",
			env:   map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT00000", "AWS_SECRET_ACCESS_KEY": "e", "AWS_PROFILE": "p"},
			creds: "[p]\n" + keys, wantEntry: 3, wantSDK: "EnvVars", wantDetail: "environment (AWS_ACCESS_KEY_ID AKIA…0000)",
		},
		{
			name:  "web identity beats the default profile",
			env:   map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/token", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r"},
			creds: "[default]\n" + keys, wantEntry: 4, wantSDK: "EnvVarsSTSWebIDToken", wantDetail: "web identity token file /nonexistent/token",
		},
		{
			name:  "AWS_PROFILE with keys",
			env:   map[string]string{"AWS_PROFILE": "p"},
			creds: "[p]\n" + keys, wantEntry: 5, wantSDK: "Profile", wantDetail: "profile p (AWS_PROFILE), access key AKIA…LE00",
		},
		{
			name:   "profile role with source_profile",
			env:    map[string]string{"AWS_PROFILE": "role"},
			config: "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n",
			creds:  "[base]\n" + keys, wantEntry: 5, wantSDK: "ProfileSourceProfile", wantDetail: "assumed role arn:aws:iam::123456789012:role/r via profile role (AWS_PROFILE) (source profile base:",
		},
		{
			name:   "profile credential_process",
			config: "[default]\ncredential_process = /bin/false\n", wantEntry: 5, wantSDK: "ProfileProcess", wantDetail: "credential_process of profile default",
		},
		{
			name:   "default profile beats container",
			env:    map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/creds"},
			config: "[default]\n" + keys, wantEntry: 5, wantSDK: "Profile",
		},
		{
			name:   "a profile without credentials falls through to the container",
			env:    map[string]string{"AWS_PROFILE": "regional", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/creds"},
			config: "[profile regional]\nregion = eu-west-1\n", wantEntry: 6, wantSDK: "HTTP", wantDetail: "container credentials from http://127.0.0.1:1/creds (AWS_CONTAINER_CREDENTIALS_FULL_URI)",
		},
		{
			name:      "nothing else: the instance role",
			env:       map[string]string{"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1"},
			wantEntry: 7, wantSDK: "IMDS", wantDetail: "instance role via IMDSv2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configFile, credsFile := isolateAWSEnv(t)
			t.Setenv("AWS_REGION", "us-east-1")
			writeFile(t, configFile, tt.config)
			writeFile(t, credsFile, tt.creds)
			for k, v := range tt.env {
				t.Setenv(k, v)
				if v == "" {
					os.Unsetenv(k)
				}
			}
			sess, err := NewSession(t.Context(), &tt.access)
			if err != nil {
				t.Fatalf("NewSession: %v", err)
			}
			if !sess.found {
				t.Fatalf("no source found:%s", explainChain(sess.chain))
			}
			if want := docsPrecedence(t)[tt.wantEntry-1]; sess.source.Name != want {
				t.Errorf("winner = %q, want row %d of the docs' table, %q", sess.source.Name, tt.wantEntry, want)
			}
			for i, row := range sess.chain {
				if row.Applies != (i == tt.wantEntry-1) {
					t.Errorf("row %d %q applies = %v", i+1, row.Name, row.Applies)
				}
			}
			if !strings.Contains(sess.source.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", sess.source.Detail, tt.wantDetail)
			}
			src, ok := sess.Config.Credentials.(aws.CredentialProviderSource)
			if !ok {
				t.Fatalf("the SDK's provider %T does not say its sources", sess.Config.Credentials)
			}
			sources := src.ProviderSources()
			if len(sources) == 0 || sourceName(sources[0]) != tt.wantSDK {
				t.Errorf("the SDK resolved %v, want it to start with %s", sourceNames(sources), tt.wantSDK)
			}
		})
	}
}

func sourceName(s aws.CredentialSource) string {
	return map[aws.CredentialSource]string{
		aws.CredentialSourceCode: "Code", aws.CredentialSourceEnvVars: "EnvVars",
		aws.CredentialSourceEnvVarsSTSWebIDToken: "EnvVarsSTSWebIDToken", aws.CredentialSourceProfile: "Profile",
		aws.CredentialSourceProfileSourceProfile: "ProfileSourceProfile", aws.CredentialSourceProfileProcess: "ProfileProcess",
		aws.CredentialSourceHTTP: "HTTP", aws.CredentialSourceIMDS: "IMDS", aws.CredentialSourceSTSAssumeRole: "STSAssumeRole",
		aws.CredentialSourceProfileNamedProvider: "ProfileNamedProvider", aws.CredentialSourceSSO: "SSO",
		aws.CredentialSourceProfileSSO: "ProfileSSO",
	}[s]
}

func sourceNames(ss []aws.CredentialSource) []string {
	var out []string
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%s(%d)", sourceName(s), s))
	}
	return out
}

func TestNoCredentialsErrorListsEverySource(t *testing.T) {
	_, credsFile := isolateAWSEnv(t)
	sess, err := NewSession(t.Context(), &AccessConfig{RawRegion: "us-east-1"})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	_, err = sess.Identify(t.Context())
	if err == nil {
		t.Fatal("Identify succeeded with no credentials anywhere")
	}
	configFile := filepath.Join(filepath.Dir(credsFile), "config")
	want := "no AWS credentials found. Sources tried, in order:" +
		"\n  1. template `access_key` and `secret_key` — no: not set" +
		"\n  2. template `profile` — no: not set" +
		"\n  3. environment AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN) — no: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY not set" +
		"\n  4. environment AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (web identity) — no: AWS_WEB_IDENTITY_TOKEN_FILE not set" +
		"\n  5. profile from AWS_PROFILE, else `default` (shared config and credentials files) — no: profile default is not in " + credsFile + " or " + configFile +
		"\n  6. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI (ECS, CodeBuild, EKS Pod Identity) — no: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI not set" +
		"\n  7. EC2 instance role from the instance metadata service (IMDSv2) — no: AWS_EC2_METADATA_DISABLED=true" +
		"\nSet `access_key`/`secret_key` or `profile` in the template, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE in the environment (see docs/credentials.md)"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
}

// TestSourcesAboveTheWinnerSayWhyNot: when a source low in the table is
// used and fails, the error lists each source above it with the reason it
// was passed over — what the SDK itself does not say.
func TestSourcesAboveTheWinnerSayWhyNot(t *testing.T) {
	configFile, credsFile := isolateAWSEnv(t)
	writeFile(t, configFile, "[profile regional]\nregion = eu-west-1\n")
	t.Setenv("AWS_PROFILE", "regional")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds")
	sess, err := NewSession(t.Context(), &AccessConfig{})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	want := "\n  1. template `access_key` and `secret_key` — no: not set" +
		"\n  2. template `profile` — no: not set" +
		"\n  3. environment AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN) — no: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY not set" +
		"\n  4. environment AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (web identity) — no: AWS_WEB_IDENTITY_TOKEN_FILE not set" +
		"\n  5. profile from AWS_PROFILE, else `default` (shared config and credentials files) — no: profile regional has no credentials in " + credsFile + " or " + configFile +
		"\n  6. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI (ECS, CodeBuild, EKS Pod Identity) — USED, failed: container credentials from http://127.0.0.1:1/creds (AWS_CONTAINER_CREDENTIALS_FULL_URI)" +
		"\n  (as in the AWS CLI, the first configured source is used; the ones below it are not tried)"
	if got := explainChain(sess.chain); got != want {
		t.Errorf("sources listed:%s\nwant:%s", got, want)
	}
	// With a template `profile`, the environment's sources are passed over
	// because of it.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "e")
	sess, err = NewSession(t.Context(), &AccessConfig{Profile: "regional"})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	for i, reason := range map[int]string{
		1: "no: profile regional has no credentials in " + credsFile + " or " + configFile,
		2: "no: not used: the template sets `profile`",
		3: "no: not used: the template sets `profile`",
		4: "no: not used: the template sets `profile`",
		5: "USED, failed: container credentials from http://127.0.0.1:1/creds",
	} {
		line := fmt.Sprintf("\n  %d. %s — %s", i+1, sess.chain[i].Name, reason)
		if got := explainChain(sess.chain); !strings.Contains(got, line) {
			t.Errorf("with a template profile, sources listed:%s\nwant the line:%s", got, line)
		}
	}
}

func TestWrongProfileIsAnError(t *testing.T) {
	for _, tt := range []struct {
		name   string
		access AccessConfig
		env    string
		want   string
	}{
		{"template", AccessConfig{Profile: "prod"}, "", "(from template `profile`)"},
		{"AWS_PROFILE", AccessConfig{}, "prod", "(from AWS_PROFILE)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, credsFile := isolateAWSEnv(t)
			writeFile(t, credsFile, "[production]\naws_access_key_id = AKIAPROFILEEXAMPLE00\naws_secret_access_key = p\n")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00000")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "e")
			if tt.env != "" {
				t.Setenv("AWS_PROFILE", tt.env)
			}
			tt.access.RawRegion = "us-east-1"
			_, err := NewSession(t.Context(), &tt.access)
			if err == nil {
				t.Fatal("NewSession accepted a profile that does not exist")
			}
			for _, w := range []string{`AWS profile "prod"`, tt.want, credsFile, "fix the name"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestOnceToken(t *testing.T) {
	next := onceToken("123456")
	if code, err := next(); code != "123456" || err != nil {
		t.Fatalf("first call = %q, %v; want the code", code, err)
	}
	code, err := next()
	if err == nil || code != "" {
		t.Fatalf("second call = %q, %v; want an error, not the used code again", code, err)
	}
	if !strings.Contains(err.Error(), "duration_seconds") {
		t.Errorf("error %q does not say to raise duration_seconds", err)
	}
}

// stsRoleServer is a local STS that answers AssumeRole with credentials
// that expire after ttl, and records each request's form.
func stsRoleServer(t *testing.T, ttl time.Duration) (*httptest.Server, func() []url.Values) {
	t.Helper()
	var mu sync.Mutex
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		mu.Lock()
		forms = append(forms, form)
		n := len(forms)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLE%012d</AccessKeyId><SecretAccessKey>roleSecret%d</SecretAccessKey><SessionToken>roleToken%d</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			n, n, n, time.Now().Add(ttl).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		return append([]url.Values(nil), forms...)
	}
}

func TestMFACodeWithAssumeRole(t *testing.T) {
	for _, tt := range []struct {
		name   string
		access AccessConfig
		config string
	}{
		{
			name: "template assume_role",
			access: AccessConfig{AccessKey: "AKIATEMPLATEEXAMPLE0", SecretKey: "s", MFACode: "123456",
				AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/r", MFASerial: "arn:aws:iam::123456789012:mfa/dev", DurationSeconds: 3600}},
		},
		{
			name:   "profile with mfa_serial",
			access: AccessConfig{Profile: "mfa", MFACode: "123456"},
			config: "[profile mfa]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/dev\n" +
				"[profile base]\naws_access_key_id = AKIAPROFILEEXAMPLE00\naws_secret_access_key = p\n",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			configFile, _ := isolateAWSEnv(t)
			writeFile(t, configFile, tt.config)
			// Credentials inside the refresh window: the next Retrieve
			// must ask STS again, and must not reuse the code.
			srv, forms := stsRoleServer(t, time.Minute)
			tt.access.RawRegion, tt.access.CustomEndpointSTS = "us-east-1", srv.URL
			sess, err := NewSession(t.Context(), &tt.access)
			if err != nil {
				t.Fatalf("NewSession: %v", err)
			}
			creds, err := sess.Config.Credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			if creds.AccessKeyID != "ASIAROLE000000000001" {
				t.Errorf("credentials %s, want the role's", creds.AccessKeyID)
			}
			got := forms()
			if len(got) != 1 || got[0].Get("Action") != "AssumeRole" || got[0].Get("TokenCode") != "123456" ||
				got[0].Get("SerialNumber") != "arn:aws:iam::123456789012:mfa/dev" {
				t.Fatalf("STS requests = %v, want one AssumeRole with TokenCode 123456 and the device", got)
			}
			_, err = sess.Config.Credentials.Retrieve(t.Context())
			if err == nil || !strings.Contains(err.Error(), "`mfa_code` was already used") {
				t.Errorf("refresh after the code was used: %v, want the once-only error", err)
			}
			for _, f := range forms()[1:] {
				if f.Get("TokenCode") != "" {
					t.Errorf("the used MFA code was sent again: %v", f)
				}
			}
		})
	}
}

func TestTemplateAssumeRoleOptionsAndRefresh(t *testing.T) {
	isolateAWSEnv(t)
	srv, forms := stsRoleServer(t, time.Minute) // inside the 2-minute refresh window
	access := &AccessConfig{
		AccessKey: "AKIATEMPLATEEXAMPLE0", SecretKey: "s", RawRegion: "us-east-1", CustomEndpointSTS: srv.URL,
		AssumeRole: AssumeRoleConfig{
			RoleARN: "arn:aws:iam::123456789012:role/r", SessionName: "bake", ExternalID: "ext",
			DurationSeconds: 900, Policy: `{"Version":"2012-10-17"}`, PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
			Tags: map[string]string{"Team": "bakery"}, TransitiveTagKeys: []string{"Team"},
		},
	}
	sess, err := NewSession(t.Context(), access)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if want := "assumed role arn:aws:iam::123456789012:role/r (via template `access_key` AKIA…PLE0)"; sess.source.Detail != want {
		t.Errorf("source = %q, want %q", sess.source.Detail, want)
	}
	for i := 0; i < 2; i++ {
		if _, err := sess.Config.Credentials.Retrieve(t.Context()); err != nil {
			t.Fatalf("Retrieve: %v", err)
		}
	}
	got := forms()
	if len(got) != 2 {
		t.Fatalf("%d AssumeRole calls for two Retrieves of soon-expiring credentials, want 2 (a refresh)", len(got))
	}
	f := got[0]
	for k, want := range map[string]string{
		"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "bake", "ExternalId": "ext",
		"DurationSeconds": "900", "Policy": `{"Version":"2012-10-17"}`, "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
		"Tags.member.1.Key": "Team", "Tags.member.1.Value": "bakery", "TransitiveTagKeys.member.1": "Team",
	} {
		if f.Get(k) != want {
			t.Errorf("AssumeRole %s = %q, want %q", k, f.Get(k), want)
		}
	}
}

func TestCredentialsCacheRefreshesBeforeExpiry(t *testing.T) {
	for _, tt := range []struct {
		ttl       time.Duration
		wantCalls int32
	}{
		{time.Hour, 1},    // cached
		{time.Minute, 3},  // inside the expiry window: fetched every time
		{-time.Minute, 3}, // already expired: never handed out from the cache
		{0, 1},            // never expires (static keys)
	} {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			var calls atomic.Int32
			p := cacheCredentials(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				calls.Add(1)
				c := aws.Credentials{AccessKeyID: "ASIA", SecretAccessKey: "s"}
				if tt.ttl != 0 {
					c.CanExpire, c.Expires = true, time.Now().Add(tt.ttl)
				}
				return c, nil
			}))
			for i := 0; i < 3; i++ {
				if _, err := p.Retrieve(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if calls.Load() != tt.wantCalls {
				t.Errorf("provider called %d times, want %d", calls.Load(), tt.wantCalls)
			}
		})
	}
}

func TestEndpointPrecedence(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4000")
		t.Setenv("AWS_ENDPOINT_URL_IAM", "http://127.0.0.1:4001")
		sess, err := NewSession(t.Context(), &AccessConfig{AccessKey: "AKIATEMPLATEEXAMPLE0", SecretKey: "s", RawRegion: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		assertEndpoints(t, sess, "http://127.0.0.1:4000", "http://127.0.0.1:4000", "http://127.0.0.1:4001")
	})
	t.Run("profile endpoint_url and services section", func(t *testing.T) {
		configFile, _ := isolateAWSEnv(t)
		writeFile(t, configFile, "[profile local]\nendpoint_url = http://127.0.0.1:5000\nservices = local\n[services local]\nsts =\n  endpoint_url = http://127.0.0.1:5001\n")
		sess, err := NewSession(t.Context(), &AccessConfig{Profile: "local", AccessKey: "", RawRegion: "us-east-1",
			SharedCredentialsFile: writeTemp(t, "[local]\naws_access_key_id = AKIAPROFILEEXAMPLE00\naws_secret_access_key = p\n")})
		if err != nil {
			t.Fatal(err)
		}
		assertEndpoints(t, sess, "http://127.0.0.1:5000", "http://127.0.0.1:5001", "http://127.0.0.1:5000")
	})
	t.Run("template wins", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4000")
		t.Setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:4002")
		sess, err := NewSession(t.Context(), &AccessConfig{AccessKey: "AKIATEMPLATEEXAMPLE0", SecretKey: "s", RawRegion: "us-east-1",
			CustomEndpointEC2: "http://127.0.0.1:6000", CustomEndpointSTS: "http://127.0.0.1:6001", CustomEndpointIAM: "http://127.0.0.1:6002"})
		if err != nil {
			t.Fatal(err)
		}
		assertEndpoints(t, sess, "http://127.0.0.1:6000", "http://127.0.0.1:6001", "http://127.0.0.1:6002")
	})
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	writeFile(t, path, content)
	return path
}

func assertEndpoints(t *testing.T, sess *Session, ec2URL, stsURL, iamURL string) {
	t.Helper()
	for name, got := range map[string]*string{
		"EC2 (build region)":   sess.EC2("").Options().BaseEndpoint,
		"EC2 (another region)": sess.EC2("ap-south-1").Options().BaseEndpoint,
	} {
		if aws.ToString(got) != ec2URL {
			t.Errorf("%s endpoint = %q, want %q", name, aws.ToString(got), ec2URL)
		}
	}
	if got := aws.ToString(sess.STS().Options().BaseEndpoint); got != stsURL {
		t.Errorf("STS endpoint = %q, want %q", got, stsURL)
	}
	if got := aws.ToString(sess.IAM().Options().BaseEndpoint); got != iamURL {
		t.Errorf("IAM endpoint = %q, want %q", got, iamURL)
	}
}

type fakeDecoder struct {
	t       *testing.T
	allowed bool // whether a call is expected at all
	got     string
	out     string
	err     error
}

func (f *fakeDecoder) DecodeAuthorizationMessage(_ context.Context, in *sts.DecodeAuthorizationMessageInput, _ ...func(*sts.Options)) (*sts.DecodeAuthorizationMessageOutput, error) {
	if !f.allowed {
		f.t.Fatalf("unexpected DecodeAuthorizationMessage call")
	}
	f.got = aws.ToString(in.EncodedMessage)
	return &sts.DecodeAuthorizationMessageOutput{DecodedMessage: aws.String(f.out)}, f.err
}

func TestDecodeAuthorizationError(t *testing.T) {
	ec2Err := errors.New("launching the build instance: operation error EC2: RunInstances, https response error StatusCode: 403, api error UnauthorizedOperation: You are not authorized to perform this operation. Encoded authorization failure message: AbC-12_xyz+/=")
	decoded := `{"allowed":false,"explicitDeny":true,"matchedStatements":{"items":[]},"context":{"principal":{"id":"AIDA","arn":"arn:aws:iam::123456789012:user/baker"},"action":"ec2:RunInstances","resource":"arn:aws:ec2:us-east-1:123456789012:instance/*","conditions":{"items":[]}}}`

	t.Run("decodes", func(t *testing.T) {
		f := &fakeDecoder{t: t, allowed: true, out: decoded}
		err := decodeAuthorizationError(t.Context(), f, ec2Err)
		if f.got != "AbC-12_xyz+/=" {
			t.Errorf("decoded %q, want the whole encoded message", f.got)
		}
		if !errors.Is(err, ec2Err) {
			t.Error("the decoded error does not wrap the original")
		}
		want := "arn:aws:iam::123456789012:user/baker was denied ec2:RunInstances on arn:aws:ec2:us-east-1:123456789012:instance/* by an explicit Deny statement"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	})
	t.Run("decoding not allowed either", func(t *testing.T) {
		denied := errors.New("AccessDenied: not authorized to perform sts:DecodeAuthorizationMessage")
		err := decodeAuthorizationError(t.Context(), &fakeDecoder{t: t, allowed: true, err: denied}, ec2Err)
		if !errors.Is(err, ec2Err) || !errors.Is(err, denied) || !strings.Contains(err.Error(), "failed too") {
			t.Errorf("err = %v, want both errors", err)
		}
	})
	t.Run("no encoded message", func(t *testing.T) {
		plain := errors.New("InvalidAMIID.NotFound")
		if err := decodeAuthorizationError(t.Context(), &fakeDecoder{t: t}, plain); err != plain {
			t.Errorf("err = %v, want it unchanged", err)
		}
	})
	t.Run("option off", func(t *testing.T) {
		sess := &Session{access: &AccessConfig{}}
		if err := sess.DecodeAuthorizationError(t.Context(), ec2Err); err != ec2Err {
			t.Errorf("err = %v, want it unchanged without decode_authorization_messages", err)
		}
	})
}

func TestAccessConfigPrepare_table(t *testing.T) {
	valid := AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/r"}
	tests := []struct {
		name   string
		config AccessConfig
		want   string // "" for no error
	}{
		{"empty", AccessConfig{}, ""},
		{"assume_role", AccessConfig{AssumeRole: valid}, ""},
		// As in amazon-ebs: the keys win, the profile still gives its settings.
		{"keys and profile", AccessConfig{AccessKey: "A", SecretKey: "s", Profile: "p"}, ""},
		{"assume_role without role_arn", AccessConfig{AssumeRole: AssumeRoleConfig{SessionName: "s"}}, "`assume_role` needs `role_arn`"},
		{"bad role_arn", AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "r"}}, "is not a role ARN"},
		{"duration too short", AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: valid.RoleARN, DurationSeconds: 60}}, "between 900 and 43200"},
		{"policy not JSON", AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: valid.RoleARN, Policy: "{"}}, "not valid JSON"},
		{"transitive key not a tag", AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: valid.RoleARN, TransitiveTagKeys: []string{"X"}}}, `names "X"`},
		{"mfa_serial without code", AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: valid.RoleARN, MFASerial: "arn:aws:iam::123456789012:mfa/d"}}, "needs `mfa_code`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.config.Prepare()
			if tt.want == "" {
				if len(errs) != 0 {
					t.Errorf("Prepare = %v, want no error", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("Prepare = %v, want one error with %q", errs, tt.want)
			}
		})
	}
}

// docsPrecedence reads the names of docs/credentials.md's precedence table.
func docsPrecedence(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "credentials.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(doc), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "| %d |", &n); err == nil {
			cells := strings.Split(line, "|")
			rows = append(rows, strings.TrimSpace(cells[2]))
		}
	}
	return rows
}

// TestDocsPrecedenceTable keeps docs/credentials.md's table the same as
// the rows the build reports: same sources, same order, same names.
func TestDocsPrecedenceTable(t *testing.T) {
	rows := docsPrecedence(t)
	if len(rows) != len(rowNames) {
		t.Fatalf("docs/credentials.md's precedence table has %d rows, the code %d", len(rows), len(rowNames))
	}
	for i, name := range rowNames {
		if rows[i] != name {
			t.Errorf("row %d is %q, the code says %q", i+1, rows[i], name)
		}
	}
}

func TestInsecureSkipTLSVerify(t *testing.T) {
	isolateAWSEnv(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>
<Arn>arn:aws:iam::123456789012:user/baker</Arn><UserId>AIDA</UserId><Account>123456789012</Account>
</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	}))
	t.Cleanup(srv.Close)
	access := &AccessConfig{AccessKey: "AKIATEMPLATEEXAMPLE0", SecretKey: "s", RawRegion: "us-east-1", CustomEndpointSTS: srv.URL, MaxRetries: 1}
	sess, err := NewSession(t.Context(), access)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Identify(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Identify against a self-signed endpoint = %v, want a certificate error", err)
	}
	access.InsecureSkipTLSVerify = true
	sess, err = NewSession(t.Context(), access)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := sess.Identify(t.Context()); err != nil || id.Account != "123456789012" {
		t.Errorf("Identify with insecure_skip_tls_verify = %+v, %v", id, err)
	}
}

func TestSharedConfigFileOption(t *testing.T) {
	isolateAWSEnv(t)
	cfgFile := writeTemp(t, "[profile baker]\nregion = eu-west-3\ncredential_process = /bin/true\n")
	sess, err := NewSession(t.Context(), &AccessConfig{Profile: "baker", SharedConfigFile: cfgFile})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if sess.Region() != "eu-west-3" || sess.source.Detail != "credential_process of profile baker (template `profile`)" {
		t.Errorf("region %q, source %q; want the profile of shared_config_file", sess.Region(), sess.source.Detail)
	}
}

func TestProfileMFAWithoutCodeSaysWhatToDo(t *testing.T) {
	configFile, _ := isolateAWSEnv(t)
	writeFile(t, configFile, "[profile mfa]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/dev\n"+
		"[profile base]\naws_access_key_id = AKIAPROFILEEXAMPLE00\naws_secret_access_key = p\n")
	_, err := NewSession(t.Context(), &AccessConfig{Profile: "mfa", RawRegion: "us-east-1"})
	if err == nil || !strings.Contains(err.Error(), "set `mfa_code`") || !strings.Contains(err.Error(), "profile mfa") {
		t.Errorf("err = %v, want advice to set mfa_code", err)
	}
}

func TestAdvice(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&smithy.GenericAPIError{Code: "ExpiredToken"}, "temporary credentials have expired"},
		{&smithy.GenericAPIError{Code: "InvalidClientTokenId"}, "access key is unknown"},
		{fmt.Errorf("refresh cached SSO token failed, %w", errors.New("cached SSO token is expired, or not present, and cannot be refreshed")), "run `aws sso login`"},
		{errors.New("dial tcp: connection refused"), ""},
	} {
		got := advice(tt.err)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("advice(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
