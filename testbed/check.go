package testbed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/authkeys"
)

// System paths install.sh sets up. They are fixed (not under the cache)
// because sshd insists on root-owned paths and Amazon Linux's layout.
const (
	SSHUser               = "ec2-user"
	DeployUser            = authkeys.DeployUser // a second login with the instance's keys, no sudo
	BecomeUser            = "bakery-app"        // unprivileged, no login: a become_user target
	AuthorizedKeysCommand = "/usr/local/libexec/bakery-testbed/authorized-keys"
	SFTPServer            = "/usr/libexec/openssh/sftp-server"
	SudoersFile           = "/etc/sudoers.d/bakery-testbed"
	sshdBinary            = "/usr/sbin/sshd"
	sudoBinary            = "/usr/bin/sudo"
	packerVersion         = "1.15.0"
)

// Requirement is one thing the bed needs on the machine.
type Requirement struct {
	Name     string // what it is, e.g. "moto_server"
	OK       bool
	Detail   string // what was found, or what is wrong
	ForStart bool   // Start refuses to run without it
}

// CheckInstall reports what install.sh should have set up. It changes
// nothing.
func CheckInstall(root string) []Requirement {
	return checkInstall(root, false)
}

// checkInstall skips what Start does not need when forStartOnly (running
// packer to ask its version costs time on every Start).
func checkInstall(root string, forStartOnly bool) []Requirement {
	reqs := []Requirement{
		check(rootRequirement, true, checkRoot),
		check("sshd "+sshdBinary, true, func() (string, error) { return executable(sshdBinary) }),
		check("sudo "+sudoBinary, true, func() (string, error) { return executable(sudoBinary) }),
		check("moto_server (venv)", true, func() (string, error) { return executable(motoServer(root)) }),
		check("user "+SSHUser, true, checkUser),
		check("sudoers "+SudoersFile, true, func() (string, error) { return rootOnly(SudoersFile, 0o022) }),
		check("sftp-server at Amazon Linux path", true, func() (string, error) { return executable(SFTPServer) }),
		check("authorized-keys command", true, func() (string, error) { return securePath(AuthorizedKeysCommand) }),
	}
	if !forStartOnly {
		reqs = append(reqs, check("packer "+packerVersion+" (for builds, not for Start)", false, func() (string, error) { return checkPacker(PackerBinary(root)) }))
	}
	return reqs
}

// missingForStart turns unmet Start requirements into one actionable error.
func missingForStart(reqs []Requirement) error {
	var missing []string
	notRoot := false
	for _, r := range reqs {
		switch {
		case r.OK || !r.ForStart:
		case r.Name == rootRequirement:
			notRoot = true
		default:
			missing = append(missing, r.Name+": "+r.Detail)
		}
	}
	var errs []error
	if notRoot {
		errs = append(errs, errors.New("testbed must run as root: its sshd has to log users in as "+SSHUser+" (run the tests or the CLI with sudo)"))
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("testbed is not installed on this machine (%s); run testbed/install.sh (or make testbed-install) as root", strings.Join(missing, "; ")))
	}
	return errors.Join(errs...)
}

const rootRequirement = "running as root"

func check(name string, forStart bool, f func() (string, error)) Requirement {
	detail, err := f()
	if err != nil {
		return Requirement{Name: name, Detail: err.Error(), ForStart: forStart}
	}
	return Requirement{Name: name, OK: true, Detail: detail, ForStart: forStart}
}

func checkRoot() (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("not root: sshd must run as root to log in as " + SSHUser)
	}
	return "euid 0", nil
}

func executable(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("missing: %w", err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", path)
	}
	return path, nil
}

func checkUser() (string, error) {
	u, err := user.Lookup(SSHUser)
	if err != nil {
		return "", fmt.Errorf("no such user: %w", err)
	}
	if fi, err := os.Stat(u.HomeDir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("home %s missing", u.HomeDir)
	}
	pw, err := shadowPassword(SSHUser)
	if errors.Is(err, fs.ErrPermission) {
		// Not root: that is reported on its own; do not blame the user too.
		return "uid " + u.Uid + " (password field not checked: needs root)", nil
	}
	if err != nil {
		return "", err
	}
	if err := usablePasswordField(pw); err != nil {
		return "", err
	}
	return "uid " + u.Uid + ", home " + u.HomeDir, nil
}

// shadowPassword returns the user's /etc/shadow password field.
func shadowPassword(name string) (string, error) {
	f, err := os.Open("/etc/shadow")
	if err != nil {
		return "", fmt.Errorf("read /etc/shadow: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > 1 && fields[0] == name {
			return fields[1], nil
		}
	}
	return "", fmt.Errorf("%s has no /etc/shadow entry", name)
}

// usablePasswordField: sshd without PAM treats "!"-prefixed (useradd's
// default) and *LK* fields as locked accounts and refuses even key logins;
// an empty field would allow password-less su. "*" is what we want.
func usablePasswordField(pw string) error {
	switch {
	case pw == "":
		return errors.New("empty password field (install.sh sets it to *)")
	case strings.HasPrefix(pw, "!"), strings.Contains(pw, "*LK*"), strings.Contains(pw, "*LOCKED*"):
		return fmt.Errorf("account is locked (password field %q); sshd with UsePAM no refuses it: install.sh sets it to *", pw)
	}
	return nil
}

// rootOnly checks path is root-owned and has none of the badBits.
func rootOnly(path string, badBits os.FileMode) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("missing: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid != 0 {
		return "", fmt.Errorf("%s is not owned by root", path)
	}
	if fi.Mode().Perm()&badBits != 0 {
		return "", fmt.Errorf("%s has mode %v; must not be group/world writable", path, fi.Mode().Perm())
	}
	return path, nil
}

// securePath mirrors sshd's check of an AuthorizedKeysCommand: the file and
// every folder above it root-owned and writable by no one else.
func securePath(path string) (string, error) {
	if _, err := executable(path); err != nil {
		return "", err
	}
	for p := path; ; p = filepath.Dir(p) {
		if _, err := rootOnly(p, 0o022); err != nil {
			return "", fmt.Errorf("sshd would refuse it: %w", err)
		}
		if p == "/" {
			return path, nil
		}
	}
}

func checkPacker(bin string) (string, error) {
	if _, err := executable(bin); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1") // no update check over the network
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", bin, err)
	}
	if !strings.Contains(string(out), "v"+packerVersion) {
		return "", fmt.Errorf("%s is %q, want v%s", bin, strings.TrimSpace(string(out)), packerVersion)
	}
	return bin, nil
}
