//go:build e2e

// End-to-end tests of credential, region and endpoint resolution: for each
// source the AWS CLI honours, the real packer binary bakes
// testdata/credentials with the plugin built from this checkout, against
// the offline test-bed, in a temporary HOME with its own AWS files and
// environment. Each case checks the line the build prints (source, the
// caller identity moto's STS returns, region), that the bake produced an
// AMI, and that no secret shows in the output or the PACKER_LOG file.
package common_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

var (
	bed        *testbed.Bed
	root       string
	pluginPath string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if root, err = testbed.FindRoot(""); err != nil {
		return fail(err)
	}
	if _, err := os.Stat(testbed.PackerBinary(root)); err != nil {
		return fail(fmt.Errorf("packer is not installed (%v): run `make testbed-install`", err))
	}
	work, err := os.MkdirTemp("", "bakery-credentials-e2e-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(work)
	if pluginPath, err = testbed.InstallPlugin(root, work); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The fault proxy injects nothing here; it counts calls, which proves
	// that a credential error stops the build before any EC2 call.
	if bed, err = testbed.Start(ctx, testbed.Options{Root: root, FaultProxy: true}); err != nil {
		return fail(err)
	}
	defer bed.Stop()
	if err := testbed.RequireLoopback(bed.Endpoint); err != nil {
		return fail(err)
	}
	return m.Run()
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "e2e:", err)
	return 1
}

const (
	motoAccount = "123456789012"
	motoUser    = "arn:aws:sts::123456789012:user/moto" // moto's answer for keys it did not issue
	roleARN     = "arn:aws:iam::123456789012:role/bakery-e2e"
)

// credRun is one `packer build` in a world of its own: HOME, AWS files,
// environment and template variables.
type credRun struct {
	t        *testing.T
	home     string
	env      map[string]string
	vars     map[string]any
	secrets  []string // must appear nowhere
	hidden   []string // must not appear in the terminal output (access key IDs)
	logPath  string
	amiName  string
	ssoToken string
	template string // the template folder; testdata/credentials if empty
}

func newCredRun(t *testing.T) *credRun {
	t.Helper()
	bed.ResetAfter(t)
	bed.Faults().Reset()
	// Not t.TempDir(): TMPDIR lives here, and packer's plugin sockets in it
	// must stay under the 108-byte limit of a unix socket path.
	home, err := os.MkdirTemp("", "bakery-cred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	r := &credRun{
		t:       t,
		home:    home,
		logPath: filepath.Join(home, "packer.log"),
		amiName: "bakery-cred-" + testbed.RandomHex(4),
		env: map[string]string{
			"HOME":                        home,
			"AWS_CONFIG_FILE":             filepath.Join(home, ".aws", "config"),
			"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, ".aws", "credentials"),
			// No IMDS unless a case brings one: this machine may be an EC2
			// instance, and nothing may reach the real metadata service.
			"AWS_EC2_METADATA_DISABLED": "true",
		},
		vars: map[string]any{
			"endpoint": bed.Endpoint,
			"region":   "us-east-1",
		},
	}
	r.write(".aws/config", "")
	r.write(".aws/credentials", "")
	return r
}

// write creates a file under HOME and returns its path.
func (r *credRun) write(rel, content string) string {
	r.t.Helper()
	path := filepath.Join(r.home, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		r.t.Fatal(err)
	}
	return path
}

// secret returns a fresh secret-looking string the run must never show.
func (r *credRun) secret(prefix string) string {
	s := prefix + testbed.RandomHex(12)
	r.secrets = append(r.secrets, s)
	return s
}

// keyID returns a fresh access key ID, which may show only masked.
func (r *credRun) keyID() string {
	id := "AKIA" + strings.ToUpper(testbed.RandomHex(8))
	r.hidden = append(r.hidden, id)
	return id
}

func (r *credRun) build() (string, error) {
	r.t.Helper()
	vars, err := json.Marshal(r.withAMIName())
	if err != nil {
		r.t.Fatal(err)
	}
	varFile := filepath.Join(r.home, "vars.pkrvars.json")
	if err := os.WriteFile(varFile, vars, 0o600); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	template := r.template
	if template == "" {
		template = "testdata/credentials"
	}
	cmd := exec.CommandContext(ctx, testbed.PackerBinary(root), "build", "-color=false", "-var-file="+varFile, template)
	var env []string
	for _, kv := range bed.PackerEnv(pluginPath, filepath.Join(r.home, "packer-config")) {
		if !strings.HasPrefix(kv, "AWS_") { // the bed's static keys, region and endpoint
			env = append(env, kv)
		}
	}
	for k, v := range r.env {
		env = append(env, k+"="+v)
	}
	tmp := filepath.Join(r.home, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		r.t.Fatal(err)
	}
	cmd.Env = append(env, "PACKER_LOG=1", "PACKER_LOG_PATH="+r.logPath, "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	r.t.Logf("packer build:\n%s", out)
	if err != nil && os.Getenv("BAKERY_E2E_SHOW_LOG") != "" {
		log, _ := os.ReadFile(r.logPath)
		r.t.Logf("PACKER_LOG:\n%s", log)
	}
	r.assertNoSecrets(string(out))
	return string(out), err
}

func (r *credRun) withAMIName() map[string]any {
	vars := map[string]any{"ami_name": r.amiName}
	for k, v := range r.vars {
		vars[k] = v
	}
	return vars
}

func (r *credRun) assertNoSecrets(output string) {
	r.t.Helper()
	log, err := os.ReadFile(r.logPath)
	if err != nil || len(log) == 0 {
		r.t.Fatalf("no PACKER_LOG output (%v): the secret check would prove nothing", err)
	}
	for _, s := range r.secrets {
		if strings.Contains(output, s) {
			r.t.Errorf("the terminal output shows secret %s…", s[:6])
		}
		if strings.Contains(string(log), s) {
			r.t.Errorf("the PACKER_LOG output shows secret %s…", s[:6])
		}
	}
	for _, id := range r.hidden {
		if strings.Contains(output, id) {
			r.t.Errorf("the terminal output shows access key ID %s unmasked", id)
		}
	}
	for name, text := range map[string]string{"terminal output": output, "PACKER_LOG": string(log)} {
		if strings.Contains(text, "PRIVATE KEY") {
			r.t.Errorf("the %s shows a private key", name)
		}
	}
	// Nothing with a secret or a private key stays in the build's TMPDIR.
	_ = filepath.WalkDir(filepath.Join(r.home, "tmp"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if bytes.Contains(data, []byte("PRIVATE KEY")) {
			r.t.Errorf("%s, left in TMPDIR, holds a private key", path)
		}
		for _, s := range r.secrets {
			if bytes.Contains(data, []byte(s)) {
				r.t.Errorf("%s, left in TMPDIR, holds secret %s…", path, s[:6])
			}
		}
		return nil
	})
}

var sourceLine = regexp.MustCompile(`AWS credentials: (.*); region (\S+)`)

// mustBake builds, expects success and an AMI, and returns the source line
// after "AWS credentials: ".
func (r *credRun) mustBake(wantSource, wantARN string) {
	r.t.Helper()
	out, err := r.build()
	if err != nil {
		r.t.Fatalf("packer build failed: %v", err)
	}
	m := sourceLine.FindStringSubmatch(out)
	if m == nil {
		r.t.Fatal("the build printed no \"AWS credentials:\" line")
	}
	want := fmt.Sprintf("%s (account %s, %s)", wantSource, motoAccount, wantARN)
	if m[1] != want {
		r.t.Errorf("source line\n got: %s\nwant: %s", m[1], want)
	}
	if m[2] != "us-east-1" {
		r.t.Errorf("region %s, want us-east-1", m[2])
	}
	if n := len(imagesNamed(r.t, r.amiName)); n != 1 {
		r.t.Errorf("%d AMIs named %s, want 1", n, r.amiName)
	}
}

// mustFailBeforeEC2 builds, expects failure with every wanted fragment in
// the output, and checks that no EC2 call reached the emulator.
func (r *credRun) mustFailBeforeEC2(want ...string) string {
	r.t.Helper()
	out, err := r.build()
	if err == nil {
		r.t.Fatal("packer build succeeded")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			r.t.Errorf("the output does not say %q", w)
		}
	}
	for call, n := range bed.Faults().Counts() {
		if call.Service == "ec2" {
			r.t.Errorf("%d %s call(s) reached the emulator before the build failed", n, call)
		}
	}
	return out
}

func imagesNamed(t *testing.T, name string) []types.Image {
	t.Helper()
	client, err := bed.EC2(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Images
}

func mask(id string) string { return id[:4] + "…" + id[len(id)-4:] }

// assumedRole is the caller ARN moto's STS reports for a session of roleARN.
func assumedRole(session string) string {
	return "arn:aws:sts::123456789012:assumed-role/bakery-e2e/" + session
}

// --- (1) explicit keys, environment, shared files, profiles, roles ---------

func TestE2ECredentialsTemplateKeys(t *testing.T) {
	r := newCredRun(t)
	id := r.keyID()
	r.vars["access_key"], r.vars["secret_key"] = id, r.secret("tmplSecret")
	// Keys in the environment lose to the template's.
	r.env["AWS_ACCESS_KEY_ID"], r.env["AWS_SECRET_ACCESS_KEY"] = "AKIAENVIRONMENTXXXXX", r.secret("envSecret")
	r.mustBake("template `access_key` "+mask(id), motoUser)
}

func TestE2ECredentialsEnvironmentWithSessionToken(t *testing.T) {
	r := newCredRun(t)
	id := r.keyID()
	r.env["AWS_ACCESS_KEY_ID"] = id
	r.env["AWS_SECRET_ACCESS_KEY"] = r.secret("envSecret")
	r.env["AWS_SESSION_TOKEN"] = r.secret("envToken")
	// A default profile with keys loses to the environment.
	r.write(".aws/credentials", "[default]\naws_access_key_id = AKIADEFAULTPROFILE00\naws_secret_access_key = "+r.secret("dflt")+"\n")
	r.mustBake("environment (AWS_ACCESS_KEY_ID "+mask(id)+" with AWS_SESSION_TOKEN)", motoUser)
}

func TestE2ECredentialsSharedFileWithAWSProfile(t *testing.T) {
	r := newCredRun(t)
	id := r.keyID()
	creds := r.write(".aws/credentials", "[default]\naws_access_key_id = AKIADEFAULTPROFILE00\naws_secret_access_key = "+r.secret("dflt")+"\n"+
		"[packer-profile]\naws_access_key_id = "+id+"\naws_secret_access_key = "+r.secret("profSecret")+"\n")
	r.env["AWS_PROFILE"] = "packer-profile"
	r.mustBake("shared credentials file "+creds+", profile packer-profile (AWS_PROFILE), access key "+mask(id), motoUser)
}

func TestE2ECredentialsSharedFileWithTemplateProfile(t *testing.T) {
	r := newCredRun(t)
	id := r.keyID()
	// The template's shared_credentials_file and profile, over AWS_PROFILE
	// and over keys in the environment (as the CLI's --profile).
	other := r.write("elsewhere/creds", "[packer-profile]\naws_access_key_id = "+id+"\naws_secret_access_key = "+r.secret("profSecret")+"\n")
	r.vars["profile"] = "packer-profile"
	r.vars["shared_credentials_file"] = other
	r.env["AWS_PROFILE"] = "other"
	r.env["AWS_ACCESS_KEY_ID"], r.env["AWS_SECRET_ACCESS_KEY"] = "AKIAENVIRONMENTXXXXX", r.secret("envSecret")
	r.mustBake("shared credentials file "+other+", profile packer-profile (template `profile`), access key "+mask(id), motoUser)
}

func TestE2ECredentialsProfileRoleWithSourceProfile(t *testing.T) {
	r := newCredRun(t)
	id := r.keyID()
	creds := r.write(".aws/credentials", "[base]\naws_access_key_id = "+id+"\naws_secret_access_key = "+r.secret("baseSecret")+"\n")
	r.write(".aws/config", "[profile deploy]\nrole_arn = "+roleARN+"\nsource_profile = base\nrole_session_name = bakery-profile-role\n")
	r.env["AWS_PROFILE"] = "deploy"
	r.mustBake("assumed role "+roleARN+" via profile deploy (AWS_PROFILE) (source profile base: shared credentials file "+creds+", profile base, access key "+mask(id)+")",
		assumedRole("bakery-profile-role"))
}

func TestE2ECredentialsProfileRoleWithCredentialSourceEnvironment(t *testing.T) {
	r := newCredRun(t)
	r.env["AWS_ACCESS_KEY_ID"] = r.keyID()
	r.env["AWS_SECRET_ACCESS_KEY"] = r.secret("envSecret")
	r.write(".aws/config", "[profile ci]\nrole_arn = "+roleARN+"\ncredential_source = Environment\nrole_session_name = bakery-credsource\n")
	r.vars["profile"] = "ci"
	r.mustBake("assumed role "+roleARN+" via profile ci (template `profile`) (credential_source = Environment)", assumedRole("bakery-credsource"))
}

// A profile role that requires MFA: without `mfa_code` the SDK refuses to
// build it at all, so a bake proves the code reaches AssumeRole.
func TestE2ECredentialsProfileRoleWithMFACode(t *testing.T) {
	r := newCredRun(t)
	id := r.keyID()
	creds := r.write(".aws/credentials", "[base]\naws_access_key_id = "+id+"\naws_secret_access_key = "+r.secret("baseSecret")+"\n")
	r.write(".aws/config", "[profile mfa]\nrole_arn = "+roleARN+"\nsource_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/baker\nrole_session_name = bakery-mfa\n")
	r.vars["profile"] = "mfa"
	r.vars["mfa_code"] = "482913"
	r.mustBake("assumed role "+roleARN+" via profile mfa (template `profile`) (source profile base: shared credentials file "+creds+", profile base, access key "+mask(id)+")",
		assumedRole("bakery-mfa"))
}

func TestE2ECredentialsTemplateAssumeRole(t *testing.T) {
	r := newCredRun(t)
	id := r.keyID()
	r.vars["access_key"], r.vars["secret_key"] = id, r.secret("tmplSecret")
	r.vars["assume_role_arn"] = roleARN
	r.mustBake("assumed role "+roleARN+" (via template `access_key` "+mask(id)+")", assumedRole("bakery-e2e-template"))
}

// The data source and the builder assume the same role with one MFA code
// in one `packer build`. AWS takes an MFA code for one AssumeRole only (moto
// does not check), so the run must call AssumeRole once and both plugin
// processes must use its credentials.
func TestE2ECredentialsTemplateAssumeRoleMFASharedByDataSourceAndBuilder(t *testing.T) {
	r := newCredRun(t)
	r.template = "testdata/credentials-mfa"
	id := r.keyID()
	r.vars["access_key"], r.vars["secret_key"] = id, r.secret("tmplSecret")
	r.vars["assume_role_arn"] = roleARN
	r.vars["mfa_serial"] = "arn:aws:iam::123456789012:mfa/baker"
	r.vars["mfa_code"] = "482913"
	r.mustBake("assumed role "+roleARN+" (via template `access_key` "+mask(id)+")", assumedRole("bakery-e2e-mfa"))
	r.assertOneAssumeRole()
}

// The same with the role of a shared config profile (`mfa_serial` there).
func TestE2ECredentialsProfileRoleMFASharedByDataSourceAndBuilder(t *testing.T) {
	r := newCredRun(t)
	r.template = "testdata/credentials-mfa"
	id := r.keyID()
	creds := r.write(".aws/credentials", "[base]\naws_access_key_id = "+id+"\naws_secret_access_key = "+r.secret("baseSecret")+"\n")
	r.write(".aws/config", "[profile mfa]\nrole_arn = "+roleARN+"\nsource_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/baker\nrole_session_name = bakery-mfa\n")
	r.vars["profile"] = "mfa"
	r.vars["mfa_code"] = "482913"
	r.mustBake("assumed role "+roleARN+" via profile mfa (template `profile`) (source profile base: shared credentials file "+creds+", profile base, access key "+mask(id)+")",
		assumedRole("bakery-mfa"))
	r.assertOneAssumeRole()
}

// With no build of bakery after the data source, the role credentials it
// left for builds must still go when the run ends (packer kills its plugin
// processes: the data source's reaper removes them).
func TestE2ECredentialsMFADataSourceAloneLeavesNothing(t *testing.T) {
	r := newCredRun(t)
	r.template = "testdata/credentials-mfa-datasource"
	id := r.keyID()
	r.vars["access_key"], r.vars["secret_key"] = id, r.secret("tmplSecret")
	r.vars["assume_role_arn"] = roleARN
	r.vars["mfa_serial"] = "arn:aws:iam::123456789012:mfa/baker"
	r.vars["mfa_code"] = "482913"
	out, err := r.build()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if !strings.Contains(out, "base image ami-") {
		t.Fatal("the data source's AMI did not reach the build")
	}
	pattern := filepath.Join(r.home, "tmp", "packer-bakery-run-*")
	var left []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if left, _ = filepath.Glob(pattern); len(left) == 0 {
			break
		}
	}
	if len(left) != 0 {
		t.Errorf("10 s after the run, %v are still in TMPDIR", left)
	}
}

// assertOneAssumeRole: the run called AssumeRole once, and the shared
// credentials went with the run.
func (r *credRun) assertOneAssumeRole() {
	r.t.Helper()
	if n := bed.Faults().Counts()[faultproxy.Call{Service: "sts", Action: "AssumeRole"}]; n != 1 {
		r.t.Errorf("%d AssumeRole calls in one packer build, want 1: an MFA code works once", n)
	}
	left, _ := filepath.Glob(filepath.Join(r.home, "tmp", "packer-bakery-run-*"))
	if len(left) != 0 {
		r.t.Errorf("the run left %v in TMPDIR", left)
	}
}

// --- (2) web identity, credential_process, container, IMDS, SSO ------------

func TestE2ECredentialsWebIdentity(t *testing.T) {
	r := newCredRun(t)
	r.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = r.write("token/web-identity", r.secret("eyJwebIdentityToken"))
	r.env["AWS_ROLE_ARN"] = roleARN
	r.env["AWS_ROLE_SESSION_NAME"] = "bakery-webid"
	r.mustBake("web identity token file "+r.env["AWS_WEB_IDENTITY_TOKEN_FILE"]+", role "+roleARN+" (AWS_WEB_IDENTITY_TOKEN_FILE)",
		assumedRole("bakery-webid"))
}

func TestE2ECredentialsProcess(t *testing.T) {
	r := newCredRun(t)
	calls := filepath.Join(r.home, "process.calls")
	script := r.write("bin/creds.sh", fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nprintf '%%s' '%s'\n", calls, mustJSON(t, map[string]any{
		"Version":         1,
		"AccessKeyId":     r.keyID(),
		"SecretAccessKey": r.secret("procSecret"),
		"SessionToken":    r.secret("procToken"),
		"Expiration":      time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	})))
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	r.write(".aws/config", "[profile proc]\ncredential_process = "+script+" --account bakery\n")
	r.env["AWS_PROFILE"] = "proc"
	r.mustBake("credential_process of profile proc (AWS_PROFILE)", motoUser)
	if got, err := os.ReadFile(calls); err != nil || !strings.Contains(string(got), "--account bakery") {
		t.Errorf("the credential_process script was not run with its arguments: %q, %v", got, err)
	}
}

func TestE2ECredentialsContainer(t *testing.T) {
	r := newCredRun(t)
	auth := r.secret("containerAuth")
	id, secret, token := r.keyID(), r.secret("ctrSecret"), r.secret("ctrToken")
	var served, refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != auth || req.URL.Path != "/v2/credentials/bakery" {
			refused.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, mustJSON(t, map[string]string{
			"AccessKeyId": id, "SecretAccessKey": secret, "Token": token,
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		}))
	}))
	t.Cleanup(srv.Close)
	url := srv.URL + "/v2/credentials/bakery"
	r.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = url
	r.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = auth
	r.mustBake("container credentials from "+url+" (AWS_CONTAINER_CREDENTIALS_FULL_URI)", motoUser)
	if served.Load() == 0 || refused.Load() != 0 {
		t.Errorf("container endpoint served %d and refused %d requests, want >0 and 0", served.Load(), refused.Load())
	}
}

// startIMDS runs amazon-ec2-metadata-mock on a free loopback port in
// IMDSv2-only mode (a request without a session token gets 401) and returns
// its URL.
func startIMDS(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testbed.CacheDir(root), "bin", "ec2-metadata-mock")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("ec2-metadata-mock is not installed (%v): run `make testbed-install`", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--hostname", "127.0.0.1", "--port", port, "--imdsv2")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Dir = t.TempDir()
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://127.0.0.1:" + port
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPut, url+"/latest/api/token", nil)
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ec2-metadata-mock did not start: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// IMDSv2 only: a tokenless (IMDSv1) request must be refused, or the
	// case below would not prove the plugin speaks IMDSv2.
	resp, err := http.Get(url + "/latest/meta-data/iam/security-credentials/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ec2-metadata-mock answered an IMDSv1 request with %d, want 401", resp.StatusCode)
	}
	return url
}

func TestE2ECredentialsInstanceRoleIMDSv2AndRegion(t *testing.T) {
	r := newCredRun(t)
	delete(r.env, "AWS_EC2_METADATA_DISABLED")
	r.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = startIMDS(t)
	// No region anywhere but IMDS (the mock's instance is in us-east-1).
	r.vars["region"] = nil
	// The mock's fixed role credentials.
	r.secrets = append(r.secrets, "v/12345678901", "TEST92test48TEST+y6RpoTEST92test48TEST")
	r.mustBake("instance role baskinc-role via IMDSv2", motoUser)
}

func TestE2ECredentialsSSO(t *testing.T) {
	r := newCredRun(t)
	srv, calls := ssoPortal(t, r)
	r.ssoProfile(srv.URL, time.Now().Add(time.Hour))
	r.mustBake("SSO role BakeryRole in account 123456789012 via profile sso-dev (AWS_PROFILE) (sso_session bakery)", motoUser)
	if calls.Load() == 0 {
		t.Error("the SSO portal's GetRoleCredentials was never called")
	}
}

// ssoPortal serves the SSO portal's GetRoleCredentials for the bearer
// token ssoProfile caches.
func ssoPortal(t *testing.T, r *credRun) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	token := r.secret("ssoAccessToken")
	r.ssoToken = token
	id, secret, session := r.keyID(), r.secret("ssoSecret"), r.secret("ssoSession")
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		if req.URL.Path != "/federation/credentials" || req.Header.Get("X-Amz-Sso_bearer_token") != token ||
			q.Get("account_id") != "123456789012" || q.Get("role_name") != "BakeryRole" {
			http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, mustJSON(t, map[string]any{"roleCredentials": map[string]any{
			"accessKeyId": id, "secretAccessKey": secret, "sessionToken": session,
			"expiration": time.Now().Add(time.Hour).UnixMilli(),
		}}))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// ssoProfile writes an sso_session profile and its cached token, as
// `aws sso login` leaves them.
func (r *credRun) ssoProfile(portal string, expires time.Time) {
	r.t.Helper()
	r.write(".aws/config", "[profile sso-dev]\nsso_session = bakery\nsso_account_id = 123456789012\nsso_role_name = BakeryRole\n\n"+
		"[sso-session bakery]\nsso_region = us-east-1\nsso_start_url = https://bakery-e2e.awsapps.com/start\n")
	sum := sha1.Sum([]byte("bakery"))
	r.write(".aws/sso/cache/"+hex.EncodeToString(sum[:])+".json", mustJSON(r.t, map[string]string{
		"accessToken": r.ssoToken,
		"expiresAt":   expires.UTC().Format(time.RFC3339),
		"region":      "us-east-1",
		"startUrl":    "https://bakery-e2e.awsapps.com/start",
	}))
	r.env["AWS_PROFILE"] = "sso-dev"
	r.env["AWS_ENDPOINT_URL_SSO"] = portal
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// --- (3) endpoints: AWS_ENDPOINT_URL*, profile endpoint_url, template ----

// closedPort is a loopback URL nothing listens on: an endpoint that must
// lose to another.
const closedPort = "http://127.0.0.1:9"

func TestE2EEndpointFromAWSEndpointURL(t *testing.T) {
	r := newCredRun(t)
	r.vars["endpoint"] = nil
	r.env["AWS_ENDPOINT_URL"] = bed.Endpoint
	r.env["AWS_ACCESS_KEY_ID"], r.env["AWS_SECRET_ACCESS_KEY"] = r.keyID(), r.secret("envSecret")
	r.mustBake("environment (AWS_ACCESS_KEY_ID "+mask(r.env["AWS_ACCESS_KEY_ID"])+")", motoUser)
	assertCalled(t, "ec2", "sts")
}

func TestE2EEndpointServiceVariablesBeatGlobal(t *testing.T) {
	r := newCredRun(t)
	r.vars["endpoint"] = nil
	r.env["AWS_ENDPOINT_URL"] = closedPort
	r.env["AWS_ENDPOINT_URL_EC2"] = bed.Endpoint
	r.env["AWS_ENDPOINT_URL_STS"] = bed.Endpoint
	// A profile role: the SDK's own STS client must honour them too.
	id := r.keyID()
	creds := r.write(".aws/credentials", "[base]\naws_access_key_id = "+id+"\naws_secret_access_key = "+r.secret("baseSecret")+"\n")
	r.write(".aws/config", "[profile deploy]\nrole_arn = "+roleARN+"\nsource_profile = base\nrole_session_name = bakery-endpoints\n")
	r.env["AWS_PROFILE"] = "deploy"
	r.mustBake("assumed role "+roleARN+" via profile deploy (AWS_PROFILE) (source profile base: shared credentials file "+creds+", profile base, access key "+mask(id)+")",
		assumedRole("bakery-endpoints"))
}

func TestE2EEndpointFromProfile(t *testing.T) {
	r := newCredRun(t)
	r.vars["endpoint"] = nil
	id := r.keyID()
	creds := r.write(".aws/credentials", "[local]\naws_access_key_id = "+id+"\naws_secret_access_key = "+r.secret("localSecret")+"\n")
	// endpoint_url for all services, and a services section for EC2.
	r.write(".aws/config", "[profile local]\nendpoint_url = "+closedPort+"\nservices = bakery-local\n\n"+
		"[services bakery-local]\nec2 =\n  endpoint_url = "+bed.Endpoint+"\nsts =\n  endpoint_url = "+bed.Endpoint+"\n")
	r.env["AWS_PROFILE"] = "local"
	r.mustBake("shared credentials file "+creds+", profile local (AWS_PROFILE), access key "+mask(id), motoUser)
	assertCalled(t, "ec2", "sts")
}

func TestE2EEndpointTemplateBeatsEnvironment(t *testing.T) {
	r := newCredRun(t)
	r.env["AWS_ENDPOINT_URL"] = closedPort
	r.env["AWS_ENDPOINT_URL_EC2"] = closedPort
	r.env["AWS_ENDPOINT_URL_STS"] = closedPort
	r.env["AWS_ACCESS_KEY_ID"], r.env["AWS_SECRET_ACCESS_KEY"] = r.keyID(), r.secret("envSecret")
	r.mustBake("environment (AWS_ACCESS_KEY_ID "+mask(r.env["AWS_ACCESS_KEY_ID"])+")", motoUser)
}

func assertCalled(t *testing.T, services ...string) {
	t.Helper()
	seen := map[string]bool{}
	for call := range bed.Faults().Counts() {
		seen[call.Service] = true
	}
	for _, s := range services {
		if !seen[s] {
			t.Errorf("no %s call reached the emulator", s)
		}
	}
}

// --- (4) failures before any EC2 call ---------------------------------------

func TestE2ECredentialsWrongProfileFailsBeforeEC2(t *testing.T) {
	t.Run("AWS_PROFILE", func(t *testing.T) {
		r := newCredRun(t)
		r.write(".aws/credentials", "[packer-profile]\naws_access_key_id = AKIAEXAMPLEEXAMPLE00\naws_secret_access_key = "+r.secret("s")+"\n")
		// Keys in the environment do not hide the typo.
		r.env["AWS_ACCESS_KEY_ID"], r.env["AWS_SECRET_ACCESS_KEY"] = r.keyID(), r.secret("envSecret")
		r.env["AWS_PROFILE"] = "packer-profil"
		r.mustFailBeforeEC2(`AWS profile "packer-profil" (from AWS_PROFILE) is not in`, "(profiles there: packer-profile)", "fix the name")
	})
	t.Run("template profile", func(t *testing.T) {
		r := newCredRun(t)
		r.vars["profile"] = "nope"
		r.mustFailBeforeEC2(`AWS profile "nope" (from template `+"`profile`"+`) is not in`, "fix the name")
	})
}

func TestE2ECredentialsExpiredSSOTokenFailsBeforeEC2(t *testing.T) {
	r := newCredRun(t)
	srv, calls := ssoPortal(t, r)
	r.ssoProfile(srv.URL, time.Now().Add(-time.Hour))
	r.mustFailBeforeEC2("SSO role BakeryRole in account 123456789012 via profile sso-dev", "run `aws sso login`")
	if calls.Load() != 0 {
		t.Errorf("the expired token was sent to the SSO portal %d times", calls.Load())
	}
}

func TestE2EMissingRegionFailsBeforeEC2(t *testing.T) {
	t.Run("no region anywhere", func(t *testing.T) {
		r := newCredRun(t)
		r.vars["region"] = nil
		r.env["AWS_ACCESS_KEY_ID"], r.env["AWS_SECRET_ACCESS_KEY"] = r.keyID(), r.secret("envSecret")
		r.mustFailBeforeEC2("no AWS region: set `region` in the template, or AWS_REGION", "AWS_EC2_METADATA_DISABLED=true")
	})
	t.Run("skip_metadata_api_check ignores IMDS", func(t *testing.T) {
		r := newCredRun(t)
		delete(r.env, "AWS_EC2_METADATA_DISABLED")
		r.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = startIMDS(t)
		r.vars["region"] = nil
		r.vars["skip_metadata_api_check"] = true
		r.env["AWS_ACCESS_KEY_ID"], r.env["AWS_SECRET_ACCESS_KEY"] = r.keyID(), r.secret("envSecret")
		r.mustFailBeforeEC2("no AWS region", "`skip_metadata_api_check` is set")
	})
}

func TestE2ENoCredentialsListsEverySource(t *testing.T) {
	r := newCredRun(t)
	out := r.mustFailBeforeEC2("no AWS credentials found",
		"1. template `access_key` and `secret_key` — no: not set",
		"AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY not set",
		"AWS_WEB_IDENTITY_TOKEN_FILE not set",
		"profile default is not in",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI not set",
		"7. EC2 instance role from the instance metadata service (IMDSv2) — no: AWS_EC2_METADATA_DISABLED=true")
	if !strings.Contains(out, "Set `access_key`/`secret_key` or `profile` in the template") {
		t.Error("the error does not say what to set")
	}
	if len(bed.Faults().Counts()) != 0 {
		t.Errorf("calls reached the emulator without credentials: %v", bed.Faults().Counts())
	}
}
