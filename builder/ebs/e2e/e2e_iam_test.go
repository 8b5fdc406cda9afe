//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
	"github.com/packer-bakery/packer-plugin-bakery/testbed"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// What moto 5.2.5 does with IAM instance profiles, as these tests rely on:
// CreateRole and CreateInstanceProfile take tags at creation and GetRole /
// GetInstanceProfile return them (ListInstanceProfileTags answers HTTP 500:
// not implemented, so tags are read with Get*). RunInstances with an
// unknown profile fails with NoSuchEntity (AWS: InvalidParameterValue), and
// moto knows a profile the moment IAM made it: the few seconds AWS's EC2
// takes to accept a new profile are played by launchGate below. A
// terminated instance loses its profile association, so what a launch asked
// for is read from its request, and the live association is checked while
// the bake waits in provisioning.

// launchGate sits between packer and the test-bed's endpoint. It records
// the instance profile every RunInstances names, and answers the first
// reject calls that name one as AWS's EC2 does while IAM's new profile has
// not reached it.
type launchGate struct {
	srv *httptest.Server

	mu       sync.Mutex
	reject   int
	profiles []string // IamInstanceProfile.Name of each RunInstances, "" for none
}

func newLaunchGate(t *testing.T, reject int) *launchGate {
	t.Helper()
	upstream, err := url.Parse(suite.Bed.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	g := &launchGate{reject: reject}
	forward := httputil.NewSingleHostReverseProxy(upstream)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		// The permission check's dry run is not a launch.
		if form.Get("Action") == "RunInstances" && form.Get("DryRun") != "true" {
			name := form.Get("IamInstanceProfile.Name")
			g.mu.Lock()
			g.profiles = append(g.profiles, name)
			refuse := name != "" && g.reject > 0
			if refuse {
				g.reject--
			}
			g.mu.Unlock()
			if refuse {
				w.Header().Set("Content-Type", "text/xml")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InvalidParameterValue</Code><Message>Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name</Message></Error></Errors><RequestID>gate-%d</RequestID></Response>`, name, time.Now().UnixNano())
				return
			}
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	if err := testbed.RequireLoopback(g.srv.URL); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *launchGate) launches() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.profiles...)
}

// iamBake is one `packer build` of a template under testdata/iam.
type iamBake struct {
	*bake
	dir  string
	gate *launchGate
}

func newIAMBake(t *testing.T, dir string, reject int, vars map[string]any, commands ...string) *iamBake {
	b := &iamBake{bake: newBake(t, commands...), dir: filepath.Join("testdata/iam", dir), gate: newLaunchGate(t, reject)}
	b.vars = map[string]any{"aws_endpoint": b.gate.srv.URL}
	for k, v := range vars {
		b.vars[k] = v
	}
	return b
}

func (b *iamBake) start(ctx context.Context) (*exec.Cmd, *testbed.Output, chan error) {
	b.t.Helper()
	cmd := b.templateCmd(ctx)
	out := &testbed.Output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, out, done
}

func (b *iamBake) runIAM() (string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, out, done := b.start(ctx)
	err := <-done
	b.t.Logf("packer build output:\n%s", out.String())
	return out.String(), err
}

func iamClient(t *testing.T) *iam.Client {
	t.Helper()
	cfg, err := suite.Bed.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return iam.NewFromConfig(cfg)
}

func iamTagMap(tags []iamtypes.Tag) map[string]string {
	m := map[string]string{}
	for _, tag := range tags {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

func isNoSuchEntity(err error) bool {
	var ae smithy.APIError
	return err != nil && errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity"
}

// bakeryIAM lists the roles and instance profiles named like the builder's
// temporary ones.
func bakeryIAM(t *testing.T, c *iam.Client) (roles, profiles []string) {
	t.Helper()
	ctx := context.Background()
	r, err := c.ListRoles(ctx, &iam.ListRolesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range r.Roles {
		if strings.HasPrefix(aws.ToString(role.RoleName), "packer_bakery_") {
			roles = append(roles, aws.ToString(role.RoleName))
		}
	}
	p, err := c.ListInstanceProfiles(ctx, &iam.ListInstanceProfilesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, prof := range p.InstanceProfiles {
		if strings.HasPrefix(aws.ToString(prof.InstanceProfileName), "packer_bakery_") {
			profiles = append(profiles, aws.ToString(prof.InstanceProfileName))
		}
	}
	return roles, profiles
}

// assertIAMGone checks that the temporary role, its policy and the profile
// are deleted, and that no other temporary one is around.
func assertIAMGone(t *testing.T, c *iam.Client, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)}); !isNoSuchEntity(err) {
		t.Errorf("instance profile %s: GetInstanceProfile = %v, want NoSuchEntity (deleted)", name, err)
	}
	if _, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(name)}); !isNoSuchEntity(err) {
		t.Errorf("policy %s of role %s: GetRolePolicy = %v, want NoSuchEntity (deleted)", name, name, err)
	}
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); !isNoSuchEntity(err) {
		t.Errorf("role %s: GetRole = %v, want NoSuchEntity (deleted)", name, err)
	}
	if roles, profiles := bakeryIAM(t, c); len(roles)+len(profiles) > 0 {
		t.Errorf("temporary IAM entities left: roles %v, instance profiles %v", roles, profiles)
	}
}

// liveProfile is what the test saw of the temporary profile mid-bake.
type liveProfile struct {
	name, buildID string
}

// checkLiveProfile checks, while the bake waits in provisioning, that the
// instance runs with a temporary profile holding a role with the seeds
// policy, each tagged with the build's id at creation, and journaled.
func checkLiveProfile(t *testing.T, b *iamBake) liveProfile {
	t.Helper()
	ctx := context.Background()
	c := iamClient(t)
	roles, profiles := bakeryIAM(t, c)
	if len(roles) != 1 || len(profiles) != 1 || roles[0] != profiles[0] {
		t.Fatalf("mid-bake: temporary roles %v, profiles %v; want one of each, of one name", roles, profiles)
	}
	name := roles[0]

	role, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	roleTags := iamTagMap(role.Role.Tags)
	live := liveProfile{name: name, buildID: roleTags["bakery:build-id"]}
	if live.buildID == "" || "packer_bakery_"+live.buildID != name {
		t.Errorf("role %s tags %v: want bakery:build-id naming this build", name, roleTags)
	}
	if roleTags["bakery:created-at"] == "" || roleTags["bakery:created-by"] == "" || roleTags["Suite"] != "e2e-iam" ||
		!strings.HasPrefix(roleTags["Source"], "ami-") {
		t.Errorf("role %s tags %v: want the build's bakery: tags and run_tags, with Source rendered to the source AMI", name, roleTags)
	}
	trust, _ := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument))
	if !strings.Contains(trust, "ec2.amazonaws.com") || !strings.Contains(trust, "sts:AssumeRole") {
		t.Errorf("role %s trust policy %s: want EC2 allowed to assume it", name, trust)
	}
	// The boundary as IAM holds it (moto stores and returns it), not only
	// as the request sent it.
	want, _ := b.vars["permissions_boundary"].(string)
	got := ""
	if pb := role.Role.PermissionsBoundary; pb != nil {
		got = aws.ToString(pb.PermissionsBoundaryArn)
	}
	if got != want {
		t.Errorf("role %s has permissions boundary %q, want %q (temporary_iam_role_permissions_boundary)", name, got, want)
	}

	policy, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(name)})
	if err != nil {
		t.Fatalf("the role's inline policy: %v", err)
	}
	doc, _ := url.QueryUnescape(aws.ToString(policy.PolicyDocument))
	var parsed struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	wantPolicy := `{2012-10-17 [{Allow [s3:GetObject] [arn:aws:s3:::example-seeds/*]} {Allow [ssm:GetParameter] [arn:aws:ssm:us-east-1:123456789012:parameter/seeds/token]}]}`
	if got := fmt.Sprint(parsed); got != wantPolicy {
		t.Errorf("inline policy %s\n parsed %s\n want   %s", doc, got, wantPolicy)
	}

	prof, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if tags := iamTagMap(prof.InstanceProfile.Tags); tags["bakery:build-id"] != live.buildID {
		t.Errorf("instance profile %s tags %v: want bakery:build-id=%s", name, tags, live.buildID)
	}
	if n := len(prof.InstanceProfile.Roles); n != 1 || aws.ToString(prof.InstanceProfile.Roles[0].RoleName) != name {
		t.Errorf("instance profile %s holds %d roles, want only %s", name, n, name)
	}
	profileARN := aws.ToString(prof.InstanceProfile.Arn)

	// The instance, as the EC2 console shows it.
	ec := ec2Client(t)
	var running []types.Instance
	for _, inst := range buildInstances(t, ec) {
		if inst.State.Name == types.InstanceStateNameRunning {
			running = append(running, inst)
		}
	}
	if len(running) != 1 {
		t.Fatalf("%d running build instances mid-bake, want 1", len(running))
	}
	inst := running[0]
	if tagMap(inst.Tags)["bakery:build-id"] != live.buildID {
		t.Errorf("instance tags %v: another build's instance", tagMap(inst.Tags))
	}
	if inst.IamInstanceProfile == nil || aws.ToString(inst.IamInstanceProfile.Arn) != profileARN {
		t.Errorf("instance %s IamInstanceProfile = %+v, want %s", aws.ToString(inst.InstanceId), inst.IamInstanceProfile, profileARN)
	}
	assoc, err := ec.DescribeIamInstanceProfileAssociations(ctx, &ec2.DescribeIamInstanceProfileAssociationsInput{
		Filters: []types.Filter{{Name: aws.String("instance-id"), Values: []string{aws.ToString(inst.InstanceId)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(assoc.IamInstanceProfileAssociations) != 1 || aws.ToString(assoc.IamInstanceProfileAssociations[0].IamInstanceProfile.Arn) != profileARN ||
		assoc.IamInstanceProfileAssociations[0].State != types.IamInstanceProfileAssociationStateAssociated {
		t.Errorf("profile associations of %s: %s, want %s associated", aws.ToString(inst.InstanceId), jsonOf(assoc.IamInstanceProfileAssociations), profileARN)
	}

	// The journal knows both, for the sweep, should the bake be killed.
	data, err := os.ReadFile(filepath.Join(b.journals, live.buildID+".json"))
	if err != nil {
		t.Fatalf("the build's journal: %v", err)
	}
	var entry journal.Entry
	if err := json.Unmarshal(data, &entry); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, r := range entry.Resources {
		kinds[string(r.Kind)] = r.ID
	}
	if kinds["iam-role"] != aws.ToString(role.Role.Arn) || kinds["iam-instance-profile"] != profileARN {
		t.Errorf("journal holds %v, want iam-role %s and iam-instance-profile %s", kinds, aws.ToString(role.Role.Arn), profileARN)
	}
	return live
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// holdCommands make the provisioner say it is running and wait until the
// test has looked, so the checks see the instance alive.
func holdCommands(t *testing.T) (commands []string, release func()) {
	gate := fmt.Sprintf("/tmp/bakery-e2e-iam-%s", testbed.RandomHex(6))
	t.Cleanup(func() { os.Remove(gate) })
	return []string{
			"echo iam-check-now",
			fmt.Sprintf("for i in $(seq 1200); do [ -e %[1]s ] && break; sleep 0.1; done; [ -e %[1]s ] || { echo gave up waiting; exit 1; }", gate),
		}, func() {
			if err := os.WriteFile(gate, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
}

// seedsBoundary is the seeds role's permissions boundary in the e2e tests
// that set one (moto does not require the policy to exist).
const seedsBoundary = "arn:aws:iam::123456789012:policy/seeds-boundary"

func TestE2EIAMTemporaryProfile(t *testing.T) {
	commands, release := holdCommands(t)
	// EC2 refuses the new profile twice, as AWS does for a few seconds.
	// checkLiveProfile reads the role's boundary while the instance runs.
	b := newIAMBake(t, "seeds", 2, map[string]any{"permissions_boundary": seedsBoundary}, commands...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd, out, done := b.start(ctx)
	if !testbed.WaitFor(func() bool { return strings.Contains(out.String(), "iam-check-now") }, done, 3*time.Minute) {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("the bake never reached provisioning:\n%s", out.String())
	}
	live := checkLiveProfile(t, b)
	release()
	if err := <-done; err != nil {
		t.Fatalf("packer build failed: %v\n%s", err, out.String())
	}
	t.Logf("packer build output:\n%s", out.String())
	b.assertNoSecrets(out.String())

	launches := b.gate.launches()
	if len(launches) != 3 {
		t.Errorf("RunInstances called %d times (%v), want 3: two refusals, then the launch", len(launches), launches)
	}
	for _, name := range launches {
		if name != live.name {
			t.Errorf("a launch named instance profile %q, want %s", name, live.name)
		}
	}
	for _, w := range []string{
		"Creating temporary IAM role " + live.name,
		"Instance profile " + live.name + " is ready",
		"Waiting for EC2 to accept instance profile " + live.name + " (now unknown to EC2 yet",
		"Deleting temporary instance profile " + live.name,
		"Deleting temporary IAM role " + live.name,
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("the output does not say %q", w)
		}
	}
	assertIAMGone(t, iamClient(t), live.name)
	client := ec2Client(t)
	assertOneBake(t, client, b.amiName)
	if left, _ := filepath.Glob(filepath.Join(b.journals, "*.json")); len(left) != 0 {
		t.Errorf("journals left after a clean bake: %v", left)
	}
}

// TestE2EIAMProfileGone: the temporary profile is removed after a failed
// and an interrupted bake too. (Short names: packer's plugin socket lives in
// TMPDIR, under the test's temp folder, and a unix socket path is short.)
func TestE2EIAMProfileGone(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interrupt bool
	}{
		{name: "failed"},
		{name: "ctrl-c", interrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			commands, release := holdCommands(t)
			commands = append(commands, "exit 7") // once released
			t.Cleanup(release)                    // ends the hold loop after an interrupt too
			b := newIAMBake(t, "seeds", 0, nil, commands...)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd, out, done := b.start(ctx)
			if !testbed.WaitFor(func() bool { return strings.Contains(out.String(), "iam-check-now") }, done, 3*time.Minute) {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("the bake never reached provisioning:\n%s", out.String())
			}
			roles, _ := bakeryIAM(t, iamClient(t))
			if tc.interrupt {
				// A terminal's Ctrl-C reaches the whole process group.
				if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
			} else {
				release()
			}
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("packer build succeeded, want a failed or cancelled build")
				}
			case <-time.After(2 * time.Minute):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("packer did not end:\n%s", out.String())
			}
			t.Logf("packer build output:\n%s", out.String())
			if len(roles) != 1 {
				t.Fatalf("temporary roles mid-bake: %v, want 1", roles)
			}
			assertIAMGone(t, iamClient(t), roles[0])
			if strings.Contains(out.String(), "Could not delete") {
				t.Errorf("a cleanup failed")
			}
			assertNothingLeft(t, ec2Client(t))
		})
	}
}

// TestE2EIAMLostRepliesAreAdopted loses the reply to the first call of each
// IAM create: the call takes effect, the SDK retries, and the retry meets
// the entity of this build's name, which the step adopts after checking its
// tags and content (the role's with a permissions boundary, which it must
// find as sent).
func TestE2EIAMLostRepliesAreAdopted(t *testing.T) {
	for _, action := range []string{"CreateRole", "CreateInstanceProfile", "AddRoleToInstanceProfile"} {
		t.Run(action, func(t *testing.T) {
			proxy := withFaults(t, faultproxy.Config{LoseReply: faultproxy.Fault{Rate: 1, Max: 1, Actions: []string{"iam:" + action}}})
			b := newIAMBake(t, "seeds", 0, map[string]any{"permissions_boundary": seedsBoundary}, "true")
			out, err := b.runIAM()
			if err != nil {
				t.Fatalf("packer build failed: %v", err)
			}
			if n := proxy.Injected()[faultproxy.KindLoseReply]; n != 1 {
				t.Fatalf("%d lost replies injected, want 1: the test proved nothing", n)
			}
			if action != "AddRoleToInstanceProfile" && !strings.Contains(out, "created by an attempt whose reply was lost; using it") {
				t.Errorf("the output does not say the entity was adopted")
			}
			launches := b.gate.launches()
			if len(launches) != 1 || !strings.HasPrefix(launches[0], "packer_bakery_") {
				t.Errorf("launches named profiles %v, want one temporary profile", launches)
			}
			assertIAMGone(t, iamClient(t), launches[0])
			assertOneBake(t, ec2Client(t), b.amiName)
		})
	}
}

// createProfile makes an instance profile holding a role, as a user would
// before naming it in iam_instance_profile.
func createProfile(t *testing.T, c *iam.Client, name string) {
	t.Helper()
	ctx := context.Background()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(name), RoleName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

func TestE2EIAMExistingProfile(t *testing.T) {
	c := iamClient(t)
	name := "build-readers-" + testbed.RandomHex(3)
	b := newIAMBake(t, "existing", 0, map[string]any{"profile_name": name}, "true")
	createProfile(t, c, name) // after newBake: its reset comes after the test

	out, err := b.runIAM()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if launches := b.gate.launches(); len(launches) != 1 || launches[0] != name {
		t.Errorf("launches named instance profiles %v, want [%s]", launches, name)
	}
	if !strings.Contains(out, "Using instance profile "+name+" (role "+name+")") {
		t.Errorf("the output does not name the profile and its role")
	}
	// The user's profile is theirs: the bake leaves it as it was.
	prof, err := c.GetInstanceProfile(context.Background(), &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil {
		t.Fatalf("the existing instance profile is gone after the bake: %v", err)
	}
	if len(prof.InstanceProfile.Roles) != 1 || aws.ToString(prof.InstanceProfile.Roles[0].RoleName) != name {
		t.Errorf("the existing profile lost its role: %s", jsonOf(prof.InstanceProfile.Roles))
	}
	if roles, profiles := bakeryIAM(t, c); len(roles)+len(profiles) > 0 {
		t.Errorf("a temporary role or profile was made besides the existing one: %v %v", roles, profiles)
	}
	assertOneBake(t, ec2Client(t), b.amiName)
}

func TestE2EIAMMissingProfileFailsBeforeLaunch(t *testing.T) {
	b := newIAMBake(t, "existing", 0, map[string]any{"profile_name": "no-such-profile"}, "true")
	proxy := suite.Bed.Faults()
	proxy.Reset()
	out, err := b.runIAM()
	if err == nil {
		t.Fatal("packer build succeeded with an instance profile that does not exist")
	}
	if want := "`iam_instance_profile` \"no-such-profile\": no instance profile of that name in this account"; !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
		t.Errorf("the output does not say %q", want)
	}
	// One by the permission check, one by the profile step; no retries.
	if n := proxy.Count("iam", "GetInstanceProfile"); n != 2 {
		t.Errorf("GetInstanceProfile called %d times, want 2", n)
	}
	if n := proxy.Count("ec2", "RunInstances"); n != 0 || len(b.gate.launches()) != 0 {
		t.Errorf("RunInstances called %d times, want none: the check must come before the launch", n)
	}
	client := ec2Client(t)
	if n := len(buildInstances(t, client)); n != 0 {
		t.Errorf("%d instances launched", n)
	}
	keys, err := client.DescribeKeyPairs(context.Background(), &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.KeyPairs) != 0 {
		t.Errorf("key pair %s left behind", aws.ToString(keys.KeyPairs[0].KeyName))
	}
	groups, err := client.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.SecurityGroups {
		if aws.ToString(g.GroupName) != "default" {
			t.Errorf("security group %s left behind", aws.ToString(g.GroupName))
		}
	}
}

// TestE2EIAMSweepAfterKill kills a bake (SIGKILL) while its instance runs
// with a temporary profile, while a second bake of the same kind is
// provisioning, and an untagged role and profile of the builder's name
// pattern exist. The sweep removes the dead bake's role, policy and
// profile, and leaves the live bake's and the untagged ones alone.
func TestE2EIAMSweepAfterKill(t *testing.T) {
	journals := filepath.Join(t.TempDir(), "journal")
	c := iamClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	startHeld := func() (*iamBake, *exec.Cmd, chan error, func()) {
		commands, release := holdCommands(t)
		t.Cleanup(release)
		b := newIAMBake(t, "seeds", 0, nil, commands...)
		b.journals = journals
		cmd, out, done := b.start(ctx)
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		if !testbed.WaitFor(func() bool { return strings.Contains(out.String(), "iam-check-now") }, done, 3*time.Minute) {
			t.Fatalf("the bake never reached provisioning:\n%s", out.String())
		}
		return b, cmd, done, release
	}
	_, deadCmd, deadDone, _ := startHeld()
	roles, _ := bakeryIAM(t, c)
	if len(roles) != 1 {
		t.Fatalf("temporary roles %v, want the first bake's", roles)
	}
	dead := roles[0]
	_ = syscall.Kill(-deadCmd.Process.Pid, syscall.SIGKILL)
	<-deadDone

	_, liveCmd, liveDone, _ := startHeld()
	roles, _ = bakeryIAM(t, c)
	var live string
	for _, r := range roles {
		if r != dead {
			live = r
		}
	}
	if len(roles) != 2 || live == "" {
		t.Fatalf("temporary roles %v, want the dead and the live bake's", roles)
	}
	untagged := "packer_bakery_untagged_" + testbed.RandomHex(3)
	createProfile(t, c, untagged)

	sweep := func(args ...string) string {
		cmd := exec.Command(suite.Plugin, append([]string{"sweep", "--region", "us-east-1"}, args...)...)
		cmd.Env = append(suite.Bed.Env(), "PACKER_BAKERY_JOURNAL_DIR="+journals)
		out, err := cmd.CombinedOutput()
		t.Logf("sweep %v:\n%s", args, out)
		if err != nil {
			t.Fatalf("sweep %v: %v", args, err)
		}
		return string(out)
	}
	exists := func(name string) (role, profile bool) {
		_, errRole := c.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(name)})
		_, errProfile := c.GetInstanceProfile(context.Background(), &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		return errRole == nil, errProfile == nil
	}

	out := sweep("--dry-run")
	if !strings.Contains(out, "iam-role "+dead) || !strings.Contains(out, "iam-instance-profile "+dead) || !strings.Contains(out, "would be removed (dry run)") {
		t.Errorf("the dry run does not list the dead bake's role and profile for removal")
	}
	if r, p := exists(dead); !r || !p {
		t.Fatalf("a dry run removed the dead bake's role (%v) or profile (%v)", !r, !p)
	}

	sweep()
	assertIAMGoneNamed(t, c, dead)
	for _, name := range []string{live, untagged} {
		if r, p := exists(name); !r || !p {
			t.Errorf("the sweep removed %s (role gone: %v, profile gone: %v): it is a live bake's or untagged", name, !r, !p)
		}
	}

	// The live bake ends (interrupted here) and removes its own.
	_ = syscall.Kill(-liveCmd.Process.Pid, syscall.SIGINT)
	select {
	case <-liveDone:
	case <-time.After(90 * time.Second):
		t.Fatal("the live bake did not end")
	}
	assertIAMGoneNamed(t, c, live)
	if r, p := exists(untagged); !r || !p {
		t.Error("the untagged role or profile is gone")
	}
}

// assertIAMGoneNamed checks one temporary role, its policy and profile are
// deleted.
func assertIAMGoneNamed(t *testing.T, c *iam.Client, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)}); !isNoSuchEntity(err) {
		t.Errorf("instance profile %s: GetInstanceProfile = %v, want NoSuchEntity", name, err)
	}
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); !isNoSuchEntity(err) {
		t.Errorf("role %s: GetRole = %v, want NoSuchEntity", name, err)
	}
}

// TestE2EIAMTemplatesValidate runs `packer validate` and `packer fmt
// -check` on the IAM templates, the seeds example among them.
func TestE2EIAMTemplatesValidate(t *testing.T) {
	vars, err := json.Marshal(map[string]any{"access_key": "AKIDBAKERYE2E", "secret_key": "e2eSecret" + testbed.RandomHex(8),
		"ami_name": "bakery-e2e-validate", "profile_name": "build-readers"})
	if err != nil {
		t.Fatal(err)
	}
	varFile := filepath.Join(t.TempDir(), "vars.pkrvars.json")
	if err := os.WriteFile(varFile, vars, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"testdata/iam/seeds", "testdata/iam/existing"} {
		t.Run(dir, func(t *testing.T) {
			// -var-file gives both templates' variables; each declares only
			// its own, and packer warns, not fails, on the others in a file.
			for _, args := range [][]string{{"validate", "-var-file=" + varFile, dir}, {"fmt", "-check", "-diff", dir}} {
				if out, err := runPacker(t, args...); err != nil {
					t.Errorf("packer %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
	}
}

// TestE2EIAMThrottledAndFlaky throttles and fails IAM calls at random
// (creates, waits and deletes alike): the SDK's retries carry the bake,
// and cleanup still removes everything.
func TestE2EIAMThrottledAndFlaky(t *testing.T) {
	var calls []string
	for _, a := range []string{"CreateRole", "PutRolePolicy", "CreateInstanceProfile", "AddRoleToInstanceProfile", "GetInstanceProfile",
		"RemoveRoleFromInstanceProfile", "DeleteInstanceProfile", "DeleteRolePolicy", "DeleteRole"} {
		calls = append(calls, "iam:"+a)
	}
	proxy := withFaults(t, faultproxy.Config{
		Seed:        7,
		Throttle:    faultproxy.Fault{Rate: 0.3, Actions: calls},
		ServerError: faultproxy.Fault{Rate: 0.1, Actions: calls},
	})
	b := newIAMBake(t, "seeds", 0, nil, "true")
	out, err := b.runIAM()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	injected := proxy.Injected()
	t.Logf("faults injected: %v", injected)
	if injected[faultproxy.KindThrottle]+injected[faultproxy.KindServerError] == 0 {
		t.Fatal("no fault was injected: the test proved nothing")
	}
	if strings.Contains(out, "Could not delete") {
		t.Error("a cleanup failed")
	}
	launches := b.gate.launches()
	if len(launches) != 1 {
		t.Fatalf("launches %v, want 1", launches)
	}
	assertIAMGone(t, iamClient(t), launches[0])
	assertOneBake(t, ec2Client(t), b.amiName)
}
