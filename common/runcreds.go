package common

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// An MFA code works for one AssumeRole call, but Packer runs a data source
// and each build in a plugin process of its own: when `bakery-ami` and
// `bakery-ebs` assume the same role with `mfa_code`, the second process's
// AssumeRole would be refused. So the first process to assume the role
// with an MFA code leaves the temporary credentials for the other
// processes of the same packer run, in the run's private folder:
//
//   - `packer-bakery-run-<uuid>.d` in TMPDIR, made 0700 by this user (an
//     existing one is used only if it is a real folder, this user's, 0700:
//     no one else can put or read anything in it), one 0600 file per role
//     opened without following symlinks;
//   - keyed by role ARN, MFA serial and session name, so another role (or
//     device) never gets them; credentials within credentialsExpiryWindow
//     of their expiry are never handed out;
//   - a file lock makes the second process wait for the first one's
//     AssumeRole instead of sending the same code;
//   - removed with the run's share files by the last process of the run
//     (EndRunShare); a data source ends before the builds start, so it
//     keeps the folder for them (EndRunShareBeforeBuilds), and starts a
//     reaper that removes it when the run is over if no build of ours did
//     (runreaper.go). A folder whose packer process is gone is removed by
//     the next run.

// runCredsSuffix names the run's private folder next to its share files.
const runCredsSuffix = ".d"

// runCredsOwnerFile records the packer process of the run, so that a later
// run can tell a folder left behind from one still in use.
const runCredsOwnerFile = "packer.pid"

// sharedRoleCredentials is a CredentialsProvider that shares the
// credentials of an MFA role between the processes of one packer run.
type sharedRoleCredentials struct {
	inner aws.CredentialsProvider
	dir   string // the run's private folder
	key   string // file name for role ARN + MFA serial + session name
	now   func() time.Time
}

// shareMFARole wraps p, the provider of `assume_role` with an MFA code, so
// that one AssumeRole serves the whole packer run; without a run share it
// is p unchanged.
func shareMFARole(p aws.CredentialsProvider, ar AssumeRoleConfig) aws.CredentialsProvider {
	share := currentRunShare()
	if share == nil {
		return p
	}
	return newSharedRoleCredentials(p, share.credsDir(), ar)
}

func newSharedRoleCredentials(p aws.CredentialsProvider, dir string, ar AssumeRoleConfig) *sharedRoleCredentials {
	sum := sha256.Sum256([]byte(ar.RoleARN + "\x00" + ar.MFASerial + "\x00" + ar.SessionName))
	return &sharedRoleCredentials{inner: p, dir: dir, key: "role-" + hex.EncodeToString(sum[:16]) + ".json", now: time.Now}
}

// sharedCreds is a role file's content.
type sharedCreds struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expires         time.Time `json:"expires"`
}

func (s *sharedRoleCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	f, err := s.open()
	if err != nil {
		log.Printf("[WARN] the role's credentials are not shared with this run's other plugin processes: %v", err)
		return s.inner.Retrieve(ctx)
	}
	defer f.Close()
	// Held across AssumeRole: a second process waits for the first one's
	// credentials instead of sending the same MFA code.
	if err := lockFile(f); err != nil {
		log.Printf("[WARN] the role's credentials are not shared with this run's other plugin processes: %v", err)
		return s.inner.Retrieve(ctx)
	}
	defer unlockFile(f)

	var c sharedCreds
	if data, err := io.ReadAll(f); err == nil && json.Unmarshal(data, &c) == nil &&
		c.AccessKeyID != "" && c.Expires.After(s.now().Add(credentialsExpiryWindow)) {
		registerSecrets(c.SecretAccessKey, c.SessionToken)
		log.Printf("[INFO] using the role credentials another plugin process of this packer run got with the MFA code")
		return aws.Credentials{
			AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			Source: "AssumeRoleProvider (shared within the packer run)", CanExpire: true, Expires: c.Expires,
		}, nil
	}
	creds, err := s.inner.Retrieve(ctx)
	if err != nil {
		return creds, err
	}
	registerSecrets(creds.SecretAccessKey, creds.SessionToken)
	if !creds.CanExpire {
		return creds, nil
	}
	out, err := json.Marshal(sharedCreds{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, creds.Expires})
	if err == nil {
		if err = f.Truncate(0); err == nil {
			_, err = f.WriteAt(out, 0)
		}
	}
	if err != nil {
		log.Printf("[WARN] the role's credentials could not be shared with this run's other plugin processes: %v", err)
	}
	return creds, nil
}

// open opens the role's file in the run's private folder, making both.
func (s *sharedRoleCredentials) open() (*os.File, error) {
	if err := makePrivateDir(s.dir); err != nil {
		return nil, err
	}
	return openPrivate(filepath.Join(s.dir, s.key))
}

// makePrivateDir makes dir 0700, or checks that the one there is a real
// folder of this user that no one else may enter: one made by someone else
// in the shared TMPDIR must not receive credentials.
func makePrivateDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return os.WriteFile(filepath.Join(dir, runCredsOwnerFile), []byte(fmt.Sprint(os.Getppid())), 0o600)
	}
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ownedByMe(fi) {
		return fmt.Errorf("%s is not a folder of this user with mode 0700: remove it", dir)
	}
	return nil
}

// removeStaleRunCreds removes the private folders of other runs whose
// packer process is gone (or that are a day old) and that no process
// holds; only folders of this user.
func removeStaleRunCreds(dir string, now time.Time, own string) {
	folders, _ := filepath.Glob(filepath.Join(dir, runSharePrefix+"*"+runCredsSuffix))
	for _, d := range folders {
		if d == own {
			continue
		}
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || !ownedByMe(fi) {
			continue
		}
		if _, err := os.Lstat(strings.TrimSuffix(d, runCredsSuffix) + ".lock"); err == nil {
			continue // a process of that run is still there: its last one removes it
		}
		pid, _ := os.ReadFile(filepath.Join(d, runCredsOwnerFile))
		if now.Sub(fi.ModTime()) > runShareMaxAge || !processAlive(strings.TrimSpace(string(pid))) {
			_ = os.RemoveAll(d)
		}
	}
}

// removeOwnDir removes dir if it is a folder of this user (never through a
// symlink someone put in its place).
func removeOwnDir(dir string) {
	if fi, err := os.Lstat(dir); err == nil && fi.IsDir() && ownedByMe(fi) {
		_ = os.RemoveAll(dir)
	}
}
