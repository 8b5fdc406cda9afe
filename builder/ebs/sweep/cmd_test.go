package sweep

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// awsCall is one request that reached the fake AWS endpoint.
type awsCall struct {
	service, region, accessKey, action string
	form                               url.Values
}

var credentialScope = regexp.MustCompile(`Credential=([^/]+)/[0-9]+/([^/]+)/([^/]+)/aws4_request`)

// fakeAWS answers the sweep command's EC2 and IAM calls over HTTP, the way
// the command's own clients reach AWS: one tagged key pair created
// keyAge ago, nothing else.
func fakeAWS(t *testing.T, keyAge time.Duration) (*httptest.Server, func() []awsCall) {
	t.Helper()
	created := time.Now().Add(-keyAge).UTC().Format(time.RFC3339)
	var mu sync.Mutex
	var calls []awsCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			t.Errorf("unsigned request %s", body)
			http.Error(w, "unsigned", http.StatusForbidden)
			return
		}
		c := awsCall{accessKey: m[1], region: m[2], service: m[3], action: form.Get("Action"), form: form}
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		switch {
		case c.service == "iam":
			fmt.Fprintf(w, `<%[1]sResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><%[1]sResult><IsTruncated>false</IsTruncated></%[1]sResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></%[1]sResponse>`, c.action)
		case c.action == "DescribeKeyPairs":
			fmt.Fprintf(w, `<DescribeKeyPairsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><keySet><item>
<keyPairId>key-0123456789abcdef0</keyPairId><keyName>bakery-left-behind</keyName><keyFingerprint>f</keyFingerprint><createTime>%[1]s</createTime>
<tagSet><item><key>bakery:build-id</key><value>b-left</value></item><item><key>bakery:created-at</key><value>%[1]s</value></item></tagSet>
</item></keySet></DescribeKeyPairsResponse>`, created)
		case c.action == "DeleteKeyPair":
			io.WriteString(w, `<DeleteKeyPairResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></DeleteKeyPairResponse>`)
		default: // every other Describe: nothing found
			fmt.Fprintf(w, `<%[1]sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId></%[1]sResponse>`, c.action)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []awsCall {
		mu.Lock()
		defer mu.Unlock()
		return append([]awsCall(nil), calls...)
	}
}

// sweepEnv points the command at endpoint with two profiles of their own
// (and nothing of the machine's AWS setup), and an empty journal folder.
func sweepEnv(t *testing.T, endpoint string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	creds := filepath.Join(dir, "credentials")
	config := filepath.Join(dir, "config")
	writeTestFile(t, creds, "[default]\naws_access_key_id = AKIADEFAULT000000000\naws_secret_access_key = d\n"+
		"[ops]\naws_access_key_id = AKIAOPSPROFILE000000\naws_secret_access_key = o\n")
	writeTestFile(t, config, "[default]\nregion = us-east-1\n[profile ops]\nregion = eu-west-2\n")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", config)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	t.Setenv(journal.EnvDir, filepath.Join(dir, "journal"))
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func deleted(calls []awsCall) []string {
	var names []string
	for _, c := range calls {
		if c.action == "DeleteKeyPair" {
			names = append(names, c.form.Get("KeyName"))
		}
	}
	return names
}

func TestMainOlderThan(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        []string
		keyAge      time.Duration
		wantDeleted bool
		wantVerdict string // a regular expression
	}{
		{"older than the default 3h", nil, 4 * time.Hour, true, `no journal here, 4h0m\ds old: removing`},
		{"younger than the default 3h", nil, 2 * time.Hour, false, `no journal here and only 2h0m\ds old \(--older-than 3h0m0s\): left alone`},
		{"older than --older-than 1h", []string{"--older-than", "1h"}, 2 * time.Hour, true, `no journal here, 2h0m\ds old: removing`},
		{"younger than --older-than 24h", []string{"--older-than", "24h"}, 4 * time.Hour, false, `no journal here and only 4h0m\ds old \(--older-than 24h0m0s\): left alone`},
		{"--dry-run lists, removes nothing", []string{"--older-than", "1h", "--dry-run"}, 2 * time.Hour, false, `no journal here, 2h0m\ds old: would be removed \(dry run\)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := fakeAWS(t, tc.keyAge)
			sweepEnv(t, srv.URL)
			code, stdout, stderr := runMain(append([]string{"--region", "us-east-1"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			// The age is rounded to the second; a slow run may add one.
			if !regexp.MustCompile(`(?m)^us-east-1 build b-left: ` + tc.wantVerdict + `$`).MatchString(stdout) {
				t.Errorf("stdout:\n%s\nwant the verdict %q", stdout, tc.wantVerdict)
			}
			got := deleted(calls())
			if tc.wantDeleted && (len(got) != 1 || got[0] != "bakery-left-behind") {
				t.Errorf("deleted key pairs %q, want the left-behind one", got)
			}
			if !tc.wantDeleted && len(got) != 0 {
				t.Errorf("deleted key pairs %q, want none", got)
			}
		})
	}
}

func TestMainProfileAndRegions(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        []string
		wantKey     string
		wantRegions []string
	}{
		{"default profile, its region", nil, "AKIADEFAULT000000000", []string{"us-east-1"}},
		{"--profile: its keys and its region", []string{"--profile", "ops"}, "AKIAOPSPROFILE000000", []string{"eu-west-2"}},
		{"--profile with --region list", []string{"--profile", "ops", "--region", "ap-south-1,sa-east-1"}, "AKIAOPSPROFILE000000", []string{"ap-south-1", "sa-east-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := fakeAWS(t, time.Minute)
			sweepEnv(t, srv.URL)
			if code, stdout, stderr := runMain(tc.args...); code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			ec2Regions := map[string]bool{}
			for _, c := range calls() {
				if c.accessKey != tc.wantKey {
					t.Errorf("%s %s signed with %s, want %s", c.service, c.action, c.accessKey, tc.wantKey)
				}
				if c.service == "ec2" {
					ec2Regions[c.region] = true
					if c.action == "DescribeKeyPairs" && c.form.Get("Filter.1.Name") != "tag-key" {
						t.Errorf("DescribeKeyPairs without the tag filter: %v", c.form)
					}
				}
			}
			for _, r := range tc.wantRegions {
				if !ec2Regions[r] {
					t.Errorf("no EC2 call in %s (calls in %v)", r, ec2Regions)
				}
			}
			if len(ec2Regions) != len(tc.wantRegions) {
				t.Errorf("EC2 calls in %v, want only %v", ec2Regions, tc.wantRegions)
			}
		})
	}
}

func TestMainArgumentErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"stray argument", []string{"--region", "us-east-1", "now"}, 2, `sweep: unexpected argument "now"`},
		{"unknown flag", []string{"--regions", "us-east-1"}, 2, "flag provided but not defined: -regions"},
		{"--older-than not a duration", []string{"--older-than", "3"}, 2, `invalid value "3" for flag -older-than`},
		{"profile not in the files", []string{"--profile", "opps"}, 1, `AWS profile "opps" (from template ` + "`profile`" + `) is not in`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := fakeAWS(t, 4*time.Hour)
			sweepEnv(t, srv.URL)
			code, stdout, stderr := runMain(tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if got := calls(); len(got) != 0 {
				t.Errorf("%d AWS calls after an argument error, want none", len(got))
			}
		})
	}
}

func TestMainRefusesANonPositiveAge(t *testing.T) {
	for _, age := range []string{"0s", "-1h"} {
		srv, calls := fakeAWS(t, 4*time.Hour)
		sweepEnv(t, srv.URL)
		code, _, stderr := runMain("--region", "us-east-1", "--older-than", age)
		if code != 2 || !strings.Contains(stderr, "give a positive age") {
			t.Errorf("--older-than %s: exit %d, stderr %q; want it refused", age, code, stderr)
		}
		if len(calls()) != 0 {
			t.Errorf("--older-than %s: AWS was called", age)
		}
	}
}

// TestMainSkipsACorruptJournal: one unreadable journal is reported and
// the sweep goes on with the rest.
func TestMainSkipsACorruptJournal(t *testing.T) {
	srv, calls := fakeAWS(t, 4*time.Hour)
	sweepEnv(t, srv.URL)
	dir := t.TempDir()
	t.Setenv(journal.EnvDir, dir)
	writeTestFile(t, filepath.Join(dir, "broken.json"), "{\"build_id\": ")
	code, _, stderr := runMain("--region", "us-east-1")
	if code != 0 {
		t.Fatalf("exit %d: a corrupt journal stopped the sweep\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "skipping journal "+filepath.Join(dir, "broken.json")) {
		t.Errorf("stderr does not report the corrupt journal:\n%s", stderr)
	}
	if got := deleted(calls()); len(got) != 1 {
		t.Errorf("deleted %v, want the old key pair swept all the same", got)
	}
}
