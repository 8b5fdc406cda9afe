package iampolicy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	code = Main(args, &out, &errw)
	return code, out.String(), errw.String()
}

func TestMainWritesThePolicy(t *testing.T) {
	code, out, stderr := run(t, "-account", "111122223333", "-var", "subnet=subnet-0aaaaaaaaaaaaaaaa", "-only", "app", "testdata/template")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var p Policy
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("not a policy: %v\n%s", err, out)
	}
	if p.Version != "2012-10-17" || len(p.Statement) == 0 {
		t.Errorf("policy %+v", p)
	}
	if strings.Contains(out, "us-west-2") {
		t.Error("-only app still includes source other's region")
	}
	if !strings.Contains(out, "arn:aws:ec2:eu-west-1:111122223333:subnet/subnet-0aaaaaaaaaaaaaaaa") {
		t.Errorf("the -var subnet is not the launch's subnet:\n%s", out)
	}
}

func TestMainWritesAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	if code, out, stderr := run(t, "-account", "111122223333", "-o", path, "testdata/template"); code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, out, stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Errorf("the file is not JSON: %s", data)
	}
}

func TestMainErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage: packer-plugin-bakery iam-policy"},
		{[]string{"-var", "novalue", "testdata/template"}, 2, "write name=value"},
		{[]string{"-account", "1", "-only", "nope", "testdata/template"}, 1, "no source.bakery-ebs.nope"},
		{[]string{"-account", "1", "testdata/missing"}, 1, "no such file"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// An option without a value widens the policy where it scopes it: the
// subcommand says which, and is quiet once every value is given.
func TestMainSaysWhatItCannotKnow(t *testing.T) {
	code, _, stderr := run(t, "-account", "111122223333", "-only", "app", "testdata/template")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "source.bakery-ebs.app: no value here for ami_name, subnet_id;") {
		t.Errorf("the unknown subnet and AMI name are not said:\n%s", stderr)
	}
	_, _, stderr = run(t, "-account", "111122223333", "-only", "app", "-var", "subnet=subnet-0aaaaaaaaaaaaaaaa", "testdata/template")
	if !strings.Contains(stderr, "app: no value here for ami_name;") || strings.Contains(stderr, "subnet_id") {
		t.Errorf("with -var subnet, only ami_name (a timestamp) is unknown:\n%s", stderr)
	}
}

// Without the caller's identity the build cannot tag in its principal's
// name, which the policy's creates require: said, not left to fail at the
// first create.
func TestMainSaysSkippedCredentialValidationBreaksThePolicy(t *testing.T) {
	dir := t.TempDir()
	tpl := `source "bakery-ebs" "fast" {
  region                     = "eu-west-1"
  source_ami                 = "ami-0123456789abcdef0"
  instance_type              = "t3.micro"
  ssh_username               = "ec2-user"
  ami_name                   = "fast"
  skip_credential_validation = true
}
build { sources = ["source.bakery-ebs.fast"] }
`
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(tpl), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "-account", "111122223333", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "source.bakery-ebs.fast: skip_credential_validation is set") {
		t.Errorf("the skipped validation is not said:\n%s", stderr)
	}
	code, _, stderr = run(t, "-account", "111122223333", "-only", "app", "-var", "subnet=subnet-0aaaaaaaaaaaaaaaa", "testdata/template")
	if code != 0 || strings.Contains(stderr, "skip_credential_validation") {
		t.Errorf("said for a template without it (exit %d):\n%s", code, stderr)
	}
}
