package common

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func TestDescribeProfile(t *testing.T) {
	keys := aws.Credentials{AccessKeyID: "AKIAPROFILEEXAMPLE00", SecretAccessKey: "s", Source: "SharedConfigCredentials: /home/u/.aws/credentials"}
	base := &config.SharedConfig{Profile: "base", Credentials: keys}
	tests := []struct {
		profile config.SharedConfig
		from    string
		want    string
	}{
		{config.SharedConfig{Profile: "prod", Credentials: keys}, "AWS_PROFILE", "shared credentials file /home/u/.aws/credentials, profile prod (AWS_PROFILE), access key AKIA…LE00"},
		{config.SharedConfig{Profile: "default", Credentials: keys}, "", "shared credentials file /home/u/.aws/credentials, profile default, access key AKIA…LE00"},
		{config.SharedConfig{Profile: "role", RoleARN: "arn:aws:iam::1:role/r", Source: base}, "template `profile`",
			"assumed role arn:aws:iam::1:role/r via profile role (template `profile`) (source profile base: shared credentials file /home/u/.aws/credentials, profile base, access key AKIA…LE00)"},
		{config.SharedConfig{Profile: "ci", RoleARN: "arn:aws:iam::1:role/r", CredentialSource: "Ec2InstanceMetadata"}, "", "assumed role arn:aws:iam::1:role/r via profile ci (credential_source = Ec2InstanceMetadata)"},
		{config.SharedConfig{Profile: "p", CredentialProcess: "/bin/creds"}, "", "credential_process of profile p"},
		{config.SharedConfig{Profile: "w", RoleARN: "arn:aws:iam::1:role/r", WebIdentityTokenFile: "/t"}, "", "web identity token file /t, role arn:aws:iam::1:role/r, via profile w"},
		{config.SharedConfig{Profile: "s", SSOSessionName: "corp", SSOSession: &config.SSOSession{Name: "corp"}, SSOAccountID: "1", SSORoleName: "Dev"}, "", "SSO role Dev in account 1 via profile s (sso_session corp)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := describeProfile(&tt.profile, tt.from); got != tt.want {
				t.Errorf("describeProfile = %q, want %q", got, tt.want)
			}
			if strings.Contains(describeProfile(&tt.profile, tt.from), "AKIAPROFILEEXAMPLE00") {
				t.Error("the whole access key ID is shown")
			}
		})
	}
}

// fakeSTS implements callerIdentifier; calling it without a script fails.
type fakeSTS struct {
	t      *testing.T
	out    *sts.GetCallerIdentityOutput
	err    error
	called int
}

func (f *fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	f.called++
	if f.out == nil && f.err == nil {
		f.t.Fatalf("unexpected STS GetCallerIdentity call")
	}
	return f.out, f.err
}

func staticProvider() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, nil
	})
}

func TestIdentify(t *testing.T) {
	t.Run("asks STS who the credentials are", func(t *testing.T) {
		client := &fakeSTS{t: t, out: &sts.GetCallerIdentityOutput{Account: aws.String("123456789012"), Arn: aws.String("arn:aws:iam::123456789012:user/baker")}}
		id, err := identifyAs(t.Context(), staticProvider(), client, &AccessConfig{}, "environment (AWS_ACCESS_KEY_ID)")
		if err != nil {
			t.Fatalf("identify: %v", err)
		}
		want := Identity{Source: "environment (AWS_ACCESS_KEY_ID)", Account: "123456789012", ARN: "arn:aws:iam::123456789012:user/baker"}
		if id != want || client.called != 1 {
			t.Errorf("identify = %+v after %d STS calls, want %+v after 1", id, client.called, want)
		}
		if got := id.String(); got != "environment (AWS_ACCESS_KEY_ID) (account 123456789012, arn:aws:iam::123456789012:user/baker)" {
			t.Errorf("String() = %q", got)
		}
	})
	t.Run("skip_credential_validation does not call STS", func(t *testing.T) {
		client := &fakeSTS{t: t} // fails if called
		id, err := identifyAs(t.Context(), staticProvider(), client, &AccessConfig{AccessKey: "AKID", SkipCredsValidation: true}, "template (access_key)")
		if err != nil {
			t.Fatalf("identify: %v", err)
		}
		if id.Account != "" || id.String() != "template (access_key)" {
			t.Errorf("identify = %+v (%q), want only the source", id, id.String())
		}
	})
	t.Run("skip_credential_validation still fetches the credentials", func(t *testing.T) {
		broken := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("no EC2 IMDS role found")
		})
		_, err := identifyAs(t.Context(), broken, &fakeSTS{t: t}, &AccessConfig{SkipCredsValidation: true}, "instance role via IMDSv2")
		if err == nil || !strings.Contains(err.Error(), "retrieving AWS credentials") || !strings.Contains(err.Error(), "no EC2 IMDS role found") {
			t.Errorf("err = %v, want the wrapped credential error", err)
		}
	})
	t.Run("STS error", func(t *testing.T) {
		stsErr := &smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
		client := &fakeSTS{t: t, err: stsErr}
		_, err := identifyAs(t.Context(), staticProvider(), client, &AccessConfig{}, "environment (AWS_ACCESS_KEY_ID)")
		if !errors.Is(err, stsErr) {
			t.Fatalf("err = %v, want it to wrap the STS error", err)
		}
		for _, w := range []string{"environment (AWS_ACCESS_KEY_ID)", "GetCallerIdentity", "`skip_credential_validation = true`"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	})
	t.Run("no provider", func(t *testing.T) {
		_, err := identifyAs(t.Context(), nil, &fakeSTS{t: t}, &AccessConfig{}, "")
		if err == nil {
			t.Fatal("identify succeeded without credentials")
		}
		for _, w := range []string{"no AWS credentials", "`access_key`", "`profile`", "AWS_ACCESS_KEY_ID"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	})
}

func TestSessionClients(t *testing.T) {
	isolateAWSEnv(t)
	access := &AccessConfig{
		AccessKey: "AKID", SecretKey: "s", RawRegion: "eu-west-1",
		CustomEndpointEC2: "http://127.0.0.1:5000", CustomEndpointSTS: "http://127.0.0.1:5001", CustomEndpointIAM: "http://127.0.0.1:5002",
	}
	sess, err := NewSession(t.Context(), access)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if sess.Region() != "eu-west-1" {
		t.Errorf("Region() = %q", sess.Region())
	}
	if o := sess.EC2("").Options(); o.Region != "eu-west-1" || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:5000" {
		t.Errorf("EC2(\"\") in %q at %q, want the build region at custom_endpoint_ec2", o.Region, aws.ToString(o.BaseEndpoint))
	}
	if o := sess.EC2("ap-south-1").Options(); o.Region != "ap-south-1" || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:5000" {
		t.Errorf("EC2(ap-south-1) in %q at %q", o.Region, aws.ToString(o.BaseEndpoint))
	}
	if sess.Config.Region != "eu-west-1" {
		t.Errorf("EC2(region) changed the session's region to %q", sess.Config.Region)
	}
	if o := sess.STS().Options(); aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:5001" {
		t.Errorf("STS at %q, want custom_endpoint_sts", aws.ToString(o.BaseEndpoint))
	}
	if o := sess.IAM().Options(); aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:5002" {
		t.Errorf("IAM at %q, want custom_endpoint_iam", aws.ToString(o.BaseEndpoint))
	}

	plain, err := NewSession(t.Context(), &AccessConfig{AccessKey: "AKID", SecretKey: "s", RawRegion: "eu-west-1"})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if o := plain.EC2("").Options(); o.BaseEndpoint != nil {
		t.Errorf("EC2 endpoint overridden to %q without custom_endpoint_ec2", aws.ToString(o.BaseEndpoint))
	}
}

func TestNewSession_noRegion(t *testing.T) {
	isolateAWSEnv(t)
	if _, err := NewSession(t.Context(), &AccessConfig{}); err == nil || !strings.Contains(err.Error(), "region") {
		t.Errorf("NewSession without a region: %v, want a region error", err)
	}
}

// stsServer is a local STS answering GetCallerIdentity with status and body.
func stsServer(t *testing.T, status int, body string) (*httptest.Server, *[]url.Values) {
	t.Helper()
	var mu sync.Mutex
	var requests []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		form.Set("_authorization", r.Header.Get("Authorization"))
		mu.Lock()
		requests = append(requests, form)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestSessionIdentify_localSTS(t *testing.T) {
	isolateAWSEnv(t)
	srv, requests := stsServer(t, http.StatusOK, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/baker</Arn>
    <UserId>AIDAEXAMPLE</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`)
	sess, err := NewSession(t.Context(), &AccessConfig{AccessKey: "AKIDLOCAL", SecretKey: "s", RawRegion: "us-east-1", CustomEndpointSTS: srv.URL})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}

	id, err := sess.Identify(t.Context())
	if err != nil {
		t.Fatalf("Identify: %v", err)
	}
	want := Identity{Source: "template `access_key` AKID…", Account: "123456789012", ARN: "arn:aws:iam::123456789012:user/baker"}
	if id != want {
		t.Errorf("Identify = %+v, want %+v", id, want)
	}
	if len(*requests) != 1 {
		t.Fatalf("%d STS requests, want 1", len(*requests))
	}
	req := (*requests)[0]
	if req.Get("Action") != "GetCallerIdentity" || !strings.Contains(req.Get("_authorization"), "Credential=AKIDLOCAL/") {
		t.Errorf("STS request = %v, want GetCallerIdentity signed with AKIDLOCAL", req)
	}
}

func TestSessionIdentify_localSTSRejects(t *testing.T) {
	isolateAWSEnv(t)
	srv, _ := stsServer(t, http.StatusForbidden, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error>
  <RequestId>r-2</RequestId>
</ErrorResponse>`)
	sess, err := NewSession(t.Context(), &AccessConfig{AccessKey: "AKIDLOCAL", SecretKey: "s", RawRegion: "us-east-1", CustomEndpointSTS: srv.URL})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	_, err = sess.Identify(t.Context())
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("err = %v, want the wrapped InvalidClientTokenId", err)
	}
	if !strings.Contains(err.Error(), "`skip_credential_validation = true`") {
		t.Errorf("error %q does not say how to skip the check", err)
	}
}
