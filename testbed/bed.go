// Package testbed runs the offline AWS test-bed: moto (every AWS API on one
// loopback port) plus an sshd on loopback that plays the EC2 instance. Keys
// are authorised the way cloud-init would: the key pair a pending or running
// instance was launched with logs in as ec2-user, and sudo works without a
// password. Nothing ever talks to anything but 127.0.0.1.
//
// The machine needs the system parts testbed/install.sh sets up; Start
// checks for them and says so when they are missing.
package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/authkeys"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

// Options configure Start.
type Options struct {
	Root    string    // project root; "" = walk up from cwd to the dir holding go.mod with this module path
	Regions []string  // regions whose instances sshd authorises; default {"us-east-1"}
	Log     io.Writer // where moto/sshd logs go besides files; may be nil
	// FaultProxy puts a faultproxy in front of moto: Endpoint (and so
	// AWSConfig, EC2 and Env) then points at the proxy, MotoEndpoint at
	// moto, and Faults controls the proxy. It injects nothing until told to.
	FaultProxy bool
	// IAMEnforcement makes moto check every request against the IAM
	// policies of the user who signed it (see iam.go): the bed's own
	// requests, and packer's with the default credentials, act as an
	// administrator; a test's IAM user gets exactly its policies.
	IAMEnforcement bool
	// Tunnels starts the Session Manager and EC2 Instance Connect Endpoint
	// stand-ins (see tunnels.go); it implies FaultProxy, which answers
	// their API calls.
	Tunnels bool
	// TunnelOnly (with Tunnels) makes sshd accept logins only from the
	// stand-ins' source address, 127.0.0.2: a build that reaches sshd
	// directly fails.
	TunnelOnly bool
}

// Bed is a running test-bed. Stop it when done.
type Bed struct {
	Endpoint string // "http://127.0.0.1:<port>" of moto (one port, all services), or of the fault proxy in front of it
	SSHHost  string // "127.0.0.1"
	SSHPort  int
	SSHUser  string // "ec2-user"
	Dir      string // per-run state folder (logs, sshd config, host keys)

	// MotoEndpoint is moto's own endpoint; the same as Endpoint unless
	// Options.FaultProxy is set. sshd's key lookup and Reset use it.
	MotoEndpoint string

	root               string
	regions            []string
	region             string // the default region children get (Regions[0])
	log                io.Writer
	awsConfigFile      string
	awsCredentialsFile string
	hostKey            ssh.PublicKey
	moto, sshd         *proc
	faults             *faultproxy.Proxy
	wantFaultProxy     bool
	iam                *iamGate
	wantIAM            bool
	wantTunnels        bool
	sshFrom            string
	tunnels            *tunnels.AWS
	caBundle           string
	logFiles           []*os.File

	stopOnce sync.Once
	stopErr  error
}

// keepEnv names the variable that keeps the run folder after Stop.
const keepEnv = "BAKERY_TESTBED_KEEP"

// Start checks the installation, then starts moto and sshd on free loopback
// ports. ctx bounds the start-up only; the bed runs until Stop. On error
// everything started so far is stopped again.
func Start(ctx context.Context, opts Options) (*Bed, error) {
	b, err := newBed(opts)
	if err != nil {
		return nil, err
	}
	if err := b.start(ctx); err != nil {
		if stopErr := b.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("start testbed: %w", err)
	}
	b.logf("testbed: moto at %s, sshd at %s:%d (run folder %s)", b.MotoEndpoint, b.SSHHost, b.SSHPort, b.Dir)
	if b.faults != nil {
		b.logf("testbed: fault proxy at %s (control: %s%sconfig)", b.Endpoint, b.Endpoint, faultproxy.ControlPrefix)
	}
	return b, nil
}

// newBed resolves options and checks the machine; it starts nothing.
func newBed(opts Options) (*Bed, error) {
	root := opts.Root
	if root == "" {
		cwd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
		if root, err = FindRoot(cwd); err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
	}
	regions := opts.Regions
	if len(regions) == 0 {
		regions = []string{"us-east-1"}
	}
	// Same rules the authorized-keys command applies, so sshd never gets a
	// command line it would reject at login time.
	regions, err := authkeys.ParseRegions(strings.Join(regions, ","))
	if err != nil {
		return nil, fmt.Errorf("testbed: Options.Regions: %w", err)
	}
	if err := missingForStart(checkInstall(root, true)); err != nil {
		return nil, err
	}
	return &Bed{
		SSHHost: "127.0.0.1",
		SSHUser: SSHUser,
		root:    root,
		regions: regions,
		region:  regions[0],
		log:     opts.Log,

		wantFaultProxy: opts.FaultProxy || opts.Tunnels,
		wantTunnels:    opts.Tunnels,
		sshFrom:        tunnelOnlyFrom(opts),
		wantIAM:        opts.IAMEnforcement,
	}, nil
}

func (b *Bed) start(ctx context.Context) error {
	if err := b.makeDir(); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	b.MotoEndpoint = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	b.Endpoint = b.MotoEndpoint
	b.SSHPort = ports[1]
	if err := b.startMoto(ports[0]); err != nil {
		return err
	}
	if err := b.waitMoto(ctx); err != nil {
		return err
	}
	if err := b.warmUp(ctx); err != nil {
		return err
	}
	if b.wantIAM {
		if err := b.startIAM(ctx); err != nil {
			return err
		}
	}
	// sshd's key lookup is set up from Endpoint, which is still moto's here:
	// logins must not fail because of faults injected for the test.
	if err := b.startSSHD(ctx, b.SSHPort); err != nil {
		return err
	}
	if err := b.waitSSHD(ctx); err != nil {
		return err
	}
	if b.wantFaultProxy {
		if err := b.startFaultProxy(); err != nil {
			return err
		}
	}
	if b.wantTunnels {
		return b.startTunnels()
	}
	return nil
}

// startFaultProxy puts the proxy in front of moto and points Endpoint at it.
func (b *Bed) startFaultProxy() error {
	logw, err := b.logFile("faultproxy.log")
	if err != nil {
		return err
	}
	p, err := faultproxy.Start(b.MotoEndpoint, faultproxy.WithLog(logw))
	if err != nil {
		return err
	}
	b.faults = p
	b.Endpoint = p.URL()
	return nil
}

// Faults controls the fault proxy in front of moto, or is nil unless the bed
// was started with Options.FaultProxy.
func (b *Bed) Faults() *faultproxy.Proxy { return b.faults }

// makeDir creates the run folder and the empty AWS config files children
// are pointed at.
func (b *Bed) makeDir() error {
	base := filepath.Join(CacheDir(b.root), "testbed")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", base, err)
	}
	pruneStaleRuns(base)
	dir, err := os.MkdirTemp(base, "run-")
	if err != nil {
		return fmt.Errorf("create run folder: %w", err)
	}
	b.Dir = dir
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("mark run folder: %w", err)
	}
	b.awsConfigFile = filepath.Join(dir, "aws-config")
	b.awsCredentialsFile = filepath.Join(dir, "aws-credentials")
	for _, f := range []string{b.awsConfigFile, b.awsCredentialsFile} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return fmt.Errorf("create empty %s: %w", f, err)
		}
	}
	return nil
}

// logFile opens Dir/name for a server's output, teed to Options.Log.
func (b *Bed) logFile(name string) (io.Writer, error) {
	f, err := os.OpenFile(filepath.Join(b.Dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	b.logFiles = append(b.logFiles, f)
	if b.log == nil {
		return f, nil
	}
	return io.MultiWriter(f, b.log), nil
}

func (b *Bed) logf(format string, args ...any) {
	if b.log != nil {
		fmt.Fprintf(b.log, format+"\n", args...)
	}
}

// HostKey is sshd's host key, for clients that check it.
func (b *Bed) HostKey() ssh.PublicKey { return b.hostKey }

// stopGrace is how long a server gets to exit on SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// Stop kills sshd and moto (whole process groups), waits for them and
// removes Dir unless BAKERY_TESTBED_KEEP=1. It is idempotent, safe to call
// concurrently (TestMain and a signal handler may race), safe on a nil Bed
// and after a partial Start; later calls return the first call's result.
func (b *Bed) Stop() error {
	if b == nil {
		return nil
	}
	b.stopOnce.Do(func() { b.stopErr = b.stop() })
	return b.stopErr
}

func (b *Bed) stop() error {
	// sshd first: its authorized-keys command calls moto.
	errs := []error{b.sshd.stop(stopGrace), b.stopTunnels(), b.faults.Close(), b.iam.Close(), b.moto.stop(stopGrace)}
	for _, f := range b.logFiles {
		errs = append(errs, f.Close())
	}
	if b.Dir != "" {
		if os.Getenv(keepEnv) == "1" {
			errs = append(errs, os.WriteFile(filepath.Join(b.Dir, keptFile), nil, 0o644))
			fmt.Fprintf(b.keepNote(), "testbed: kept run folder %s (logs, sshd_config)\n", b.Dir)
		} else if err := os.RemoveAll(b.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove run folder: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop testbed: %w", err)
	}
	return nil
}

// Marker files in a run folder: who owns it, and that Stop kept it on purpose.
const (
	ownerFile = "owner.pid"
	keptFile  = "kept"
)

// pruneStaleRuns removes run folders whose owning process is gone without
// having stopped its bed (SIGKILL, a crash); Pdeathsig already killed their
// servers. Kept folders and folders of live processes stay. Best effort: a
// folder it cannot judge stays too.
func pruneStaleRuns(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "run-*"))
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, keptFile)); err == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (b *Bed) keepNote() io.Writer {
	if b.log != nil {
		return b.log
	}
	return os.Stderr
}
