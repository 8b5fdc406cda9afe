//go:build e2e

// End-to-end tests of the test-bed itself: moto plus the loopback sshd must
// behave like EC2 plus an Amazon Linux instance. Run as root on a machine
// prepared by testbed/install.sh:
//
//	go test -tags e2e ./testbed/...
package testbed_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

// bed is shared by the tests; tests that reset state start their own.
var bed *testbed.Bed

func TestMain(m *testing.M) {
	os.Exit(mainE2E(m))
}

func mainE2E(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := testbed.Start(ctx, testbed.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bed = b
	// Ctrl-C or a CI timeout's SIGTERM must not leave moto and sshd behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: stopping the test-bed\n", sig)
		if err := b.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
		}
		os.Exit(1)
	}()
	code := m.Run()
	if err := b.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func ec2Client(t *testing.T, b *testbed.Bed, region string) *ec2.Client {
	t.Helper()
	c, err := b.EC2(testCtx(t), region)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newKey returns a fresh ed25519 signer and its authorized_keys line.
func newKey(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func uniqueName(t *testing.T, what string) string {
	return fmt.Sprintf("e2e-%s-%s-%d", what, strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

// importKey imports signer's public key as a key pair and returns its name.
func importKey(t *testing.T, c *ec2.Client, signer ssh.Signer) string {
	t.Helper()
	name := uniqueName(t, "key")
	_, err := c.ImportKeyPair(testCtx(t), &ec2.ImportKeyPairInput{
		KeyName:           aws.String(name),
		PublicKeyMaterial: ssh.MarshalAuthorizedKey(signer.PublicKey()),
	})
	if err != nil {
		t.Fatalf("import key pair: %v", err)
	}
	return name
}

// amazonLinuxAMI finds the Amazon Linux 2 image of moto's catalogue.
func amazonLinuxAMI(t *testing.T, c *ec2.Client) string {
	t.Helper()
	out, err := c.DescribeImages(testCtx(t), &ec2.DescribeImagesInput{
		Owners:  []string{"137112412989"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}},
	})
	if err != nil {
		t.Fatalf("describe images: %v", err)
	}
	if len(out.Images) == 0 {
		t.Fatal("moto's catalogue has no amzn2-ami-hvm-*-x86_64-gp2 image owned by 137112412989")
	}
	return aws.ToString(out.Images[0].ImageId)
}

// launch runs one instance with keyName and terminates it when the test ends.
func launch(t *testing.T, c *ec2.Client, keyName string) string {
	t.Helper()
	id := runInstance(t, c, keyName)
	t.Cleanup(func() { terminate(t, c, id) })
	return id
}

// runInstance runs one instance with keyName (none if "") and leaves it.
func runInstance(t *testing.T, c *ec2.Client, keyName string) string {
	t.Helper()
	in := &ec2.RunInstancesInput{
		ImageId:      aws.String(amazonLinuxAMI(t, c)),
		InstanceType: types.InstanceTypeT3Micro,
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(1),
	}
	if keyName != "" {
		in.KeyName = aws.String(keyName)
	}
	out, err := c.RunInstances(testCtx(t), in)
	if err != nil {
		t.Fatalf("run instances: %v", err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}

func terminate(t *testing.T, c *ec2.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Errorf("terminate %s: %v", id, err)
	}
}

func dialAs(b *testbed.Bed, user string, signer ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", net.JoinHostPort(b.SSHHost, strconv.Itoa(b.SSHPort)), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(b.HostKey()),
		Timeout:         10 * time.Second,
	})
}

func mustDial(t *testing.T, b *testbed.Bed, signer ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := dialAs(b, b.SSHUser, signer)
	if err != nil {
		t.Fatalf("ssh as %s: %v (see %s/sshd.log)", b.SSHUser, err, b.Dir)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func requireRefused(t *testing.T, b *testbed.Bed, user string, signer ssh.Signer, why string) {
	t.Helper()
	c, err := dialAs(b, user, signer)
	if err == nil {
		c.Close()
		t.Fatalf("ssh as %s succeeded; want refused: %s", user, why)
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("ssh as %s failed, but not with an authentication refusal: %v", user, err)
	}
}

// remote runs cmd over c and returns its trimmed stdout.
func remote(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stderr bytes.Buffer
	s.Stderr = &stderr
	out, err := s.Output(cmd)
	if err != nil {
		t.Fatalf("%q: %v: %s", cmd, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func TestLoginAsEc2UserWithInstanceKey(t *testing.T) {
	c := ec2Client(t, bed, "us-east-1")
	signer := newKey(t)
	launch(t, c, importKey(t, c, signer))

	conn := mustDial(t, bed, signer)
	if got := remote(t, conn, "id -un"); got != "ec2-user" {
		t.Errorf("logged in as %q", got)
	}
	if got := remote(t, conn, "echo $HOME"); got != "/home/ec2-user" {
		t.Errorf("HOME = %q", got)
	}
	remote(t, conn, "sudo -n true")
	if got := remote(t, conn, "sudo -n id -u"); got != "0" {
		t.Errorf("sudo -n id -u = %q", got)
	}
	requireRefused(t, bed, "root", signer, "only ec2-user may log in, even with a live instance's key")
}

func TestKeyOfNoInstanceIsRefused(t *testing.T) {
	c := ec2Client(t, bed, "us-east-1")
	imported := newKey(t)
	importKey(t, c, imported) // a key pair exists, but no instance names it
	requireRefused(t, bed, bed.SSHUser, imported, "imported key pair without an instance")
	requireRefused(t, bed, bed.SSHUser, newKey(t), "key moto has never seen")
}

func TestInstanceWithoutKeyNameGivesNoLogin(t *testing.T) {
	c := ec2Client(t, bed, "us-east-1")
	signer := newKey(t)
	importKey(t, c, signer)
	launch(t, c, "")
	requireRefused(t, bed, bed.SSHUser, signer, "instance launched without KeyName")
}

func TestTerminatedInstanceKeyIsRefused(t *testing.T) {
	c := ec2Client(t, bed, "us-east-1")
	signer := newKey(t)
	id := launch(t, c, importKey(t, c, signer))
	mustDial(t, bed, signer)

	if _, err := c.TerminateInstances(testCtx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	requireRefused(t, bed, bed.SSHUser, signer, "the key's only instance is terminated")
}

// TestDeletedKeyPairDoesNotLockOutOthers: a build that deletes its key pair
// while its instance still runs must not break other builds' logins (one
// missing name fails the whole DescribeKeyPairs call). The deleted pair's
// own key stops working, unlike on AWS, where cloud-init copied it at boot.
func TestDeletedKeyPairDoesNotLockOutOthers(t *testing.T) {
	c := ec2Client(t, bed, "us-east-1")
	gone, kept := newKey(t), newKey(t)
	goneName := importKey(t, c, gone)
	launch(t, c, goneName)
	launch(t, c, importKey(t, c, kept))
	if _, err := c.DeleteKeyPair(testCtx(t), &ec2.DeleteKeyPairInput{KeyName: aws.String(goneName)}); err != nil {
		t.Fatal(err)
	}
	mustDial(t, bed, kept)
	requireRefused(t, bed, bed.SSHUser, gone, "its key pair was deleted")
}

func TestInstanceInUnlistedRegionIsRefused(t *testing.T) {
	c := ec2Client(t, bed, "eu-west-1") // the shared bed authorises us-east-1 only
	signer := newKey(t)
	launch(t, c, importKey(t, c, signer))
	requireRefused(t, bed, bed.SSHUser, signer, "instance in a region the bed does not serve")
}

// sftp packet types (draft-ietf-secsh-filexfer-02, what OpenSSH speaks).
const (
	sshFxpInit    = 1
	sshFxpVersion = 2
)

// TestSFTPSubsystem checks the sftp subsystem runs the Amazon Linux path
// and speaks SFTP: it sends SSH_FXP_INIT and expects SSH_FXP_VERSION 3.
func TestSFTPSubsystem(t *testing.T) {
	if _, err := os.Stat(testbed.SFTPServer); err != nil {
		t.Fatalf("%s: %v", testbed.SFTPServer, err)
	}
	c := ec2Client(t, bed, "us-east-1")
	signer := newKey(t)
	launch(t, c, importKey(t, c, signer))
	conn := mustDial(t, bed, signer)
	remote(t, conn, "test -x "+testbed.SFTPServer)

	s, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestSubsystem("sftp"); err != nil {
		t.Fatalf("sftp subsystem: %v", err)
	}
	// uint32 length, byte type, uint32 version
	if _, err := in.Write([]byte{0, 0, 0, 5, sshFxpInit, 0, 0, 0, 3}); err != nil {
		t.Fatal(err)
	}
	typ, version, err := readVersion(out)
	if err != nil {
		t.Fatalf("sftp-server's reply: %v", err)
	}
	if typ != sshFxpVersion || version != 3 {
		t.Errorf("sftp reply type %d version %d, want %d version 3", typ, version, sshFxpVersion)
	}
}

func readVersion(r io.Reader) (typ byte, version uint32, err error) {
	var hdr [9]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, err
	}
	length := binary.BigEndian.Uint32(hdr[:4])
	if length < 5 || length > 1<<16 {
		return 0, 0, errors.New("implausible packet length " + strconv.Itoa(int(length)))
	}
	return hdr[4], binary.BigEndian.Uint32(hdr[5:]), nil
}

func TestSTSOnTheSameEndpoint(t *testing.T) {
	cfg, err := bed.AWSConfig(testCtx(t), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("sts through %s: %v", bed.Endpoint, err)
	}
	if aws.ToString(out.Account) == "" {
		t.Error("no account in GetCallerIdentity")
	}
}

// TestSecondBedResetAndStop uses its own bed, so its Reset cannot disturb
// the other tests. It also proves two beds coexist and regions are served.
func TestSecondBedResetAndStop(t *testing.T) {
	b, err := testbed.Start(testCtx(t), testbed.Options{Regions: []string{"us-east-1", "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	if b.Endpoint == bed.Endpoint || b.SSHPort == bed.SSHPort || b.Dir == bed.Dir {
		t.Fatalf("second bed shares endpoint, port or folder with the first: %+v", b)
	}

	c := ec2Client(t, b, "eu-west-1")
	signer := newKey(t)
	runInstance(t, c, importKey(t, c, signer)) // Reset and Stop clean up
	conn := mustDial(t, b, signer)
	conn.Close()

	if err := b.Reset(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeInstances(testCtx(t), &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 0 {
		t.Errorf("after Reset: %d reservations", len(out.Reservations))
	}
	requireRefused(t, b, b.SSHUser, signer, "Reset removed the instance")

	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	for _, addr := range []string{strings.TrimPrefix(b.Endpoint, "http://"), net.JoinHostPort(b.SSHHost, strconv.Itoa(b.SSHPort))} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Stop", addr)
		}
	}
	if _, err := os.Stat(b.Dir); os.Getenv("BAKERY_TESTBED_KEEP") != "1" && !os.IsNotExist(err) {
		t.Errorf("run folder %s still there after Stop (%v)", b.Dir, err)
	}
}

// TestCancelledStartCleansUp: a Start whose ctx ends mid-way (moto is still
// loading) must return an error and leave no process or run folder behind.
// The ctx is cancelled when moto first writes to its log, not after a fixed
// time, so the cancel lands mid-way on a fast machine and a loaded one alike.
func TestCancelledStartCleansUp(t *testing.T) {
	before := childPIDs(t)
	runsBefore := runFolders(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := &cancelOnFirstWrite{cancel: cancel, before: before}
	b, err := testbed.Start(ctx, testbed.Options{Log: started})
	if err == nil {
		b.Stop()
		t.Fatal("Start succeeded although its ctx was cancelled once moto ran")
	}
	spawned := started.spawned()
	if len(spawned) == 0 {
		t.Fatalf("no process was started before the cancel (Start: %v): nothing was tested", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start error %v does not wrap the ctx error", err)
	}
	for _, pid := range spawned {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil && !isZombie(pid) {
			t.Errorf("process %d, started by the cancelled Start, still runs", pid)
		}
	}
	for _, pid := range childPIDs(t) {
		if !slices.Contains(before, pid) {
			t.Errorf("child process %d appeared during the cancelled Start and still runs", pid)
		}
	}
	if after := runFolders(t); !slices.Equal(after, runsBefore) {
		t.Errorf("run folders: %v before, %v after", runsBefore, after)
	}
}

// cancelOnFirstWrite is a Start's Log: its first write (moto's first line)
// records the children started so far and cancels the Start's ctx.
type cancelOnFirstWrite struct {
	cancel context.CancelFunc
	before []int
	mu     sync.Mutex
	fired  bool
	pids   []int
}

func (c *cancelOnFirstWrite) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fired {
		c.fired = true
		for _, pid := range liveChildren() {
			if !slices.Contains(c.before, pid) {
				c.pids = append(c.pids, pid)
			}
		}
		c.cancel()
	}
	return len(p), nil
}

func (c *cancelOnFirstWrite) spawned() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.pids)
}

func isZombie(pid int) bool {
	state, _ := procState(pid)
	return state == "Z"
}

// procState reads a process's state and parent from /proc/PID/stat.
func procState(pid int) (state string, ppid int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	// pid (comm) state ppid ...; comm may hold spaces, so cut at the last ')'.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 2 {
		return "", 0
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0], ppid
}

// childPIDs lists this process's live (not zombie) children from /proc.
func childPIDs(t *testing.T) []int {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatalf("no /proc: %v", err)
	}
	return liveChildren()
}

func liveChildren() []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, f := range stats {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err != nil {
			continue
		}
		if state, ppid := procState(pid); state != "" && state != "Z" && ppid == os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// runFolders lists the run folders this test process owns (other test
// binaries may run beds at the same time).
func runFolders(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(filepath.Dir(bed.Dir), "run-*"))
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err == nil && strings.TrimSpace(string(owner)) == strconv.Itoa(os.Getpid()) {
			ours = append(ours, dir)
		}
	}
	return ours
}
