package common

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// countingRole stands for AssumeRole with an MFA code: each call is one
// use of the code, with fresh credentials.
type countingRole struct {
	calls   atomic.Int32
	expires time.Time
	delay   time.Duration // how long STS takes to answer
}

func (c *countingRole) Retrieve(context.Context) (aws.Credentials, error) {
	n := c.calls.Add(1)
	time.Sleep(c.delay)
	return aws.Credentials{
		AccessKeyID:     "ASIAROLE" + string(rune('0'+n)),
		SecretAccessKey: "roleSecret" + randomSuffix(),
		SessionToken:    "roleToken" + randomSuffix(),
		CanExpire:       true,
		Expires:         c.expires,
	}, nil
}

func randomSuffix() string { return time.Now().Format("150405.000000000") }

func skipWithoutLocks(t *testing.T) {
	t.Helper()
	if !fileLockSupported {
		t.Skip("no file locks on this system")
	}
}

var mfaRole = AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/bake", MFASerial: "arn:aws:iam::123456789012:mfa/baker", SessionName: "s"}

// Two plugin processes of one run (two providers on one folder) assume the
// role once, and the second gets the first one's credentials.
func TestSharedRoleCredentialsOneAssumeRolePerRun(t *testing.T) {
	skipWithoutLocks(t)
	dir := filepath.Join(t.TempDir(), runSharePrefix+"run"+runCredsSuffix)
	// Both start together; the second must wait for the first's answer.
	first := &countingRole{expires: time.Now().Add(time.Hour), delay: 200 * time.Millisecond}
	second := &countingRole{expires: time.Now().Add(time.Hour), delay: 200 * time.Millisecond}
	var wg sync.WaitGroup
	got := make([]aws.Credentials, 2)
	for i, inner := range []*countingRole{first, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := newSharedRoleCredentials(inner, dir, mfaRole).Retrieve(context.Background())
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		}()
	}
	wg.Wait()
	if n := first.calls.Load() + second.calls.Load(); n != 1 {
		t.Fatalf("%d AssumeRole calls, want 1", n)
	}
	if got[0].SecretAccessKey != got[1].SecretAccessKey || got[0].SessionToken != got[1].SessionToken {
		t.Error("the two processes hold different credentials")
	}
	// The shared credentials never show in the log.
	if s := packersdk.LogSecretFilter.FilterString(got[1].SecretAccessKey + " " + got[1].SessionToken); strings.Contains(s, "role") {
		t.Errorf("the log would show %q", s)
	}
	fi, err := os.Lstat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("folder %v (%v), want 0700", fi.Mode(), err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "role-*.json"))
	for _, f := range files {
		if fi, err := os.Lstat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v (%v), want 0600", f, fi.Mode(), err)
		}
	}
	if len(files) != 1 {
		t.Errorf("%d credential files, want 1", len(files))
	}
}

// Another role, another device or another session name assumes on its own.
func TestSharedRoleCredentialsKeyedByRoleSerialSession(t *testing.T) {
	skipWithoutLocks(t)
	dir := filepath.Join(t.TempDir(), "run.d")
	inner := &countingRole{expires: time.Now().Add(time.Hour)}
	others := []AssumeRoleConfig{mfaRole, mfaRole, mfaRole, mfaRole}
	others[1].RoleARN += "-other"
	others[2].MFASerial += "-other"
	others[3].SessionName += "-other"
	for _, ar := range others {
		if _, err := newSharedRoleCredentials(inner, dir, ar).Retrieve(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := inner.calls.Load(); n != 4 {
		t.Errorf("%d AssumeRole calls for 4 different roles, want 4", n)
	}
}

// Credentials that expire within the expiry window are not reused.
func TestSharedRoleCredentialsExpiredNotReused(t *testing.T) {
	skipWithoutLocks(t)
	dir := filepath.Join(t.TempDir(), "run.d")
	inner := &countingRole{expires: time.Now().Add(credentialsExpiryWindow / 2)}
	for range 2 {
		if _, err := newSharedRoleCredentials(inner, dir, mfaRole).Retrieve(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := inner.calls.Load(); n != 2 {
		t.Errorf("%d AssumeRole calls, want 2: expiring credentials were reused", n)
	}
}

// A folder someone else could read or that is a symlink gets no
// credentials: the process assumes the role on its own.
func TestSharedRoleCredentialsRefuseForeignFolder(t *testing.T) {
	skipWithoutLocks(t)
	tmp := t.TempDir()
	open := filepath.Join(tmp, "open.d")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(tmp, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(tmp, "link.d")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{open, link} {
		inner := &countingRole{expires: time.Now().Add(time.Hour)}
		if _, err := newSharedRoleCredentials(inner, dir, mfaRole).Retrieve(context.Background()); err != nil {
			t.Fatal(err)
		}
		if inner.calls.Load() != 1 {
			t.Errorf("%s: the role was not assumed", dir)
		}
	}
	for _, dir := range []string{open, target} {
		if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
			t.Errorf("credentials written to %v", files)
		}
	}
}

// The last process of the run removes the folder; a data source, which
// runs before the builds, keeps it for them.
func TestRunShareEndRemovesCredentials(t *testing.T) {
	skipWithoutLocks(t)
	path := filepath.Join(t.TempDir(), runSharePrefix+"run.json")
	for _, keep := range []bool{true, false} {
		s, err := joinRunShare(path, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		if err := makePrivateDir(s.credsDir()); err != nil {
			t.Fatal(err)
		}
		s.end(keep)
		if _, err := os.Lstat(s.credsDir()); (err == nil) != keep {
			t.Errorf("end(%v): folder there = %v", keep, err == nil)
		}
	}
}

// A later run removes folders of runs whose packer process is gone, and
// none of a run still going.
func TestRemoveStaleRunCreds(t *testing.T) {
	skipWithoutLocks(t)
	dir := t.TempDir()
	mk := func(name, pid string) string {
		d := filepath.Join(dir, runSharePrefix+name+runCredsSuffix)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, runCredsOwnerFile), []byte(pid), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	gone := mk("gone", "2147483646")
	alive := mk("alive", strconv.Itoa(os.Getpid()))
	own := mk("own", "2147483646")
	held := mk("held", "2147483646")
	if err := os.WriteFile(filepath.Join(dir, runSharePrefix+"held.lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removeStaleRunCreds(dir, time.Now(), own)
	for d, want := range map[string]bool{gone: false, alive: true, own: true, held: true} {
		if _, err := os.Lstat(d); (err == nil) != want {
			t.Errorf("%s: there = %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}
