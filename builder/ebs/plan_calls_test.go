package ebs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// connected stands in for Packer's SSH connection, which calls no AWS; a
// non-nil err makes it fail as SSH that never answers does.
type connected struct{ err error }

func (s connected) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	if s.err != nil {
		state.Put(keyError, s.err)
		return multistep.ActionHalt
	}
	return multistep.ActionContinue
}

func (connected) Cleanup(multistep.StateBag) {}

func stepName(s multistep.Step) string {
	if w, ok := s.(without); ok {
		return stepName(w.Step)
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", s), "*ebs.")
}

// bake runs cfg's plan against c as the runner does: each step in turn
// until one halts, then every Cleanup backwards; each call is recorded by
// the step that made it.
func bake(t *testing.T, c *cloud, cfg *Config, sshErr error, edit func([]multistep.Step)) []multistep.Step {
	t.Helper()
	steps := plan(cfg, planDeps{region: "us-east-1", buildID: "b1", clients: c.clients()})
	if edit != nil {
		edit(steps)
	}
	state, ui := newState(t)
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("the bake said:\n%s\n%s", ui.Out.String(), ui.Err.String())
		}
	})
	state.Put("hook", &packersdk.MockHook{})
	ran := 0
	for _, s := range steps {
		if sc, ok := s.(*stepConnect); ok {
			sc.inner = connected{err: sshErr}
		}
		c.mu.Lock()
		c.step = stepName(s)
		c.mu.Unlock()
		ran++
		if s.Run(context.Background(), state) == multistep.ActionHalt {
			break
		}
	}
	state.Put(multistep.StateHalted, true) // as the runner does after a halt; cleanups read it
	for i := ran - 1; i >= 0; i-- {
		c.mu.Lock()
		c.step = stepName(steps[i])
		c.mu.Unlock()
		steps[i].Cleanup(state)
	}
	return steps
}

// callsTable are configurations that, together, make the build make every
// call a step can make: the options that bring calls in, lost replies
// (adoption), and failures (cleanup).
var callsTable = []struct {
	name string
	over map[string]interface{}
	// fail answers these actions with this error code.
	fail map[string]string
	// lost makes these create calls answer as after a lost reply.
	lost []string
	ssh  error
	// tunnel: the cloud has the tunnel stand-ins, and ssh_port is their
	// greeting server.
	tunnel bool
	// sessionKMS: the account's Session Manager preferences encrypt
	// sessions with a KMS key (tunnel only).
	sessionKMS bool
}{
	{name: "plain"},
	{name: "everything on demand", over: map[string]interface{}{"ami_regions": []string{"us-west-2"}, "encrypt_boot": true, "kms_key_id": "alias/k",
		"region_kms_key_ids": map[string]string{"us-west-2": "alias/w"}, "ami_users": []string{"444455556666"}, "snapshot_users": []string{"444455556666"},
		"deprecate_at": time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339), "ena_support": true, "imds_support": "v2.0",
		"tags": map[string]string{"Team": "x"}, "snapshot_tags": map[string]string{"Team": "x"}, "force_deregister": true, "force_delete_snapshot": true,
		"launch_block_device_mappings": []map[string]interface{}{{"device_name": "/dev/xvdb", "volume_size": 8, "encrypted": true, "kms_key_id": "alias/l"}},
		"ami_block_device_mappings":    []map[string]interface{}{{"device_name": "/dev/xvdc", "volume_size": 8, "encrypted": true, "kms_key_id": "alias/a"}},
		"temporary_iam_instance_profile_policy_document": map[string]interface{}{"Version": "2012-10-17",
			"Statement": []map[string]interface{}{{"Effect": "Allow", "Action": []string{"s3:GetObject"}, "Resource": []string{"arn:aws:s3:::b/*"}}}}},
		fail: map[string]string{"existing image": "yes"}},
	{name: "skip_save_build_region", over: map[string]interface{}{"ami_regions": []string{"us-west-2"}, "skip_save_build_region": true}},
	{name: "spot", over: map[string]interface{}{"spot_price": "auto", "spot_tags": map[string]string{"Team": "x"}, "iam_instance_profile": "builder"}},
	{name: "spot, lost replies", over: map[string]interface{}{"spot_price": "auto"}, lost: []string{"ec2:CreateLaunchTemplate", "ec2:DeleteFleets"}},
	{name: "lost replies", over: map[string]interface{}{"temporary_iam_instance_profile_policy_document": map[string]interface{}{"Version": "2012-10-17",
		"Statement": []map[string]interface{}{{"Effect": "Allow", "Action": []string{"s3:GetObject"}, "Resource": []string{"arn:aws:s3:::b/*"}}}}},
		lost: []string{"ec2:ImportKeyPair", "ec2:CreateSecurityGroup", "iam:CreateRole", "iam:CreateInstanceProfile"}},
	{name: "own groups, SSH never answers", over: map[string]interface{}{"security_group_ids": []string{"sg-0123456789abcdef0"},
		"source_ami": unset, "source_ami_filter": map[string]interface{}{"filters": map[string]string{"name": "x-*"}, "owners": []string{"self"}}},
		ssh: errors.New("timeout waiting for SSH")},
	{name: "session manager", over: map[string]interface{}{"ssh_interface": "session_manager"}, tunnel: true},
	{name: "session manager, KMS-encrypted sessions", over: map[string]interface{}{"ssh_interface": "session_manager"}, tunnel: true, sessionKMS: true},
	{name: "session manager, SSH never answers", over: map[string]interface{}{"ssh_interface": "session_manager"}, tunnel: true,
		ssh: errors.New("timeout waiting for SSH")},
	{name: "instance connect endpoint", over: map[string]interface{}{"ssh_interface": "instance_connect_endpoint"}, tunnel: true},
	{name: "refused after the image, decoded", over: map[string]interface{}{"decode_authorization_messages": true, "ami_users": []string{"444455556666"}},
		fail: map[string]string{"ec2:ModifyImageAttribute": "UnauthorizedOperation"}},
}

// declaredCalls are the calls a step declares, as action → partOf.
func declaredCalls(s multistep.Step) map[string][]string {
	out := map[string][]string{}
	if d, ok := s.(declarer); ok {
		for _, c := range d.awsCalls() {
			out[c.action] = append(out[c.action], c.partOf)
		}
	}
	return out
}

// callAudit gathers, over several bakes, what steps declared and made.
type callAudit struct {
	declared map[string]bool // "step action" or "step action (part of call)"
	made     map[string]bool // "step action"
}

func newCallAudit() *callAudit {
	return &callAudit{declared: map[string]bool{}, made: map[string]bool{}}
}

// undeclared records one bake and returns the calls its steps made
// without declaring them, and the permission check's questions no step
// declares.
func (a *callAudit) undeclared(c *cloud, steps []multistep.Step) []string {
	var problems []string
	all := map[string]bool{}
	for _, s := range steps {
		for action, partOf := range declaredCalls(s) {
			all[action] = true
			for _, p := range partOf {
				key := stepName(s) + " " + action
				if p != "" {
					key += " (part of " + p + ")"
				}
				a.declared[key] = true
			}
		}
	}
	for _, s := range steps {
		declared := declaredCalls(s)
		if _, ok := s.(*stepPreflight); ok {
			// Its checks' own calls: the source AMI's lookup, IAM reads
			// of what the template names.
			declared = map[string][]string{}
			for action := range all {
				declared[action] = nil
			}
		}
		for action := range c.made[stepName(s)] {
			a.made[stepName(s)+" "+action] = true
			if _, ok := declared[action]; !ok {
				problems = append(problems, fmt.Sprintf("%s calls %s, which it does not declare in awsCalls: the permission check and iam-policy do not know it", stepName(s), action))
			}
		}
	}
	for action := range c.asked {
		if !all[action] {
			problems = append(problems, fmt.Sprintf("the permission check asked about %s, which no planned step declares", action))
		}
	}
	sort.Strings(problems)
	return problems
}

// neverMade are the declarations no bake made: a call no step makes, or
// one AWS asks for during a call no step makes.
func (a *callAudit) neverMade() []string {
	var never []string
	for key := range a.declared {
		stepAction, partOf, isPart := strings.Cut(key, " (part of ")
		if isPart {
			if !a.anyMade(strings.TrimSuffix(partOf, ")")) {
				never = append(never, key)
			}
			continue
		}
		if !a.made[stepAction] {
			never = append(never, key)
		}
	}
	sort.Strings(never)
	return never
}

func (a *callAudit) anyMade(action string) bool {
	for key := range a.made {
		if strings.HasSuffix(key, " "+action) {
			return true
		}
	}
	return false
}

// bakeCase bakes tc against a new cloud, with edit applied to the plan.
func bakeCase(t *testing.T, a *callAudit, i int, edit func([]multistep.Step)) []string {
	tc := callsTable[i]
	c := newCloud(t)
	for action, code := range tc.fail {
		c.fail[action] = &smithy.GenericAPIError{Code: code, Message: "Encoded authorization failure message: abc"}
	}
	for _, l := range tc.lost {
		c.lost[l] = true
	}
	over := tc.over
	if tc.tunnel {
		over = maps.Clone(tc.over)
		over["ssh_port"] = c.withTunnels(t, tc.sessionKMS)
	}
	return a.undeclared(c, bake(t, c, preparedConfig(t, over), tc.ssh, edit))
}

// TestEveryCallIsDeclared runs each plan of callsTable against a cloud that
// records every call: a step that calls AWS for what it did not declare
// fails it (the permission check would not ask about that call, nor the
// policy grant it), and so does a declaration no plan ever makes (a grant
// nothing needs).
func TestEveryCallIsDeclared(t *testing.T) {
	a := newCallAudit()
	for i, tc := range callsTable {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range bakeCase(t, a, i, nil) {
				t.Error(p)
			}
		})
	}
	if never := a.neverMade(); len(never) > 0 {
		t.Errorf("declared calls no plan of callsTable makes (remove the declaration, or add the configuration that makes the call):\n  %s", strings.Join(never, "\n  "))
	}
}

// without is a step whose declaration lacks action, or with extra declares
// one more call: the planted defects of the audit's own tests.
type without struct {
	multistep.Step
	action string
	extra  *awsCall
}

func (w without) awsCalls() []awsCall {
	var out []awsCall
	for _, c := range w.Step.(declarer).awsCalls() {
		if c.action != w.action {
			out = append(out, c)
		}
	}
	if w.extra != nil {
		out = append(out, *w.extra)
	}
	return out
}

// replace puts a without around the step of steps whose type is like's.
func replace(like multistep.Step, w without) func([]multistep.Step) {
	return func(steps []multistep.Step) {
		for i, s := range steps {
			if reflect.TypeOf(s) == reflect.TypeOf(like) {
				w.Step = s
				steps[i] = w
			}
		}
	}
}

func TestEveryCallIsDeclared_catchesAMissingDeclaration(t *testing.T) {
	// As if step_key_pair.go's awsCalls lost its DeleteKeyPair.
	got := bakeCase(t, newCallAudit(), 0, replace(&stepKeyPair{}, without{action: "ec2:DeleteKeyPair"}))
	want := "stepKeyPair calls ec2:DeleteKeyPair, which it does not declare in awsCalls"
	if !slices.ContainsFunc(got, func(p string) bool { return strings.HasPrefix(p, want) }) {
		t.Errorf("the audit missed an undeclared call; it found %v", got)
	}
}

func TestEveryCallIsDeclared_catchesADeclarationNeverMade(t *testing.T) {
	a := newCallAudit()
	extra := &awsCall{action: "ec2:DeleteVolume"}
	if got := bakeCase(t, a, 0, replace(&stepStopInstance{}, without{extra: extra})); len(got) > 0 {
		t.Fatalf("the plain bake: %v", got)
	}
	if got := a.neverMade(); !slices.Contains(got, "stepStopInstance ec2:DeleteVolume") {
		t.Errorf("the audit missed a declaration nothing makes; it found %v", got)
	}
}
