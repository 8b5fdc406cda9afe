package ebs

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// fakeIAM implements instanceProfileManager.
type fakeIAM struct {
	fake
	GetInstanceProfileCalls    script[iam.GetInstanceProfileInput, iam.GetInstanceProfileOutput]
	CreateRoleCalls            script[iam.CreateRoleInput, iam.CreateRoleOutput]
	GetRoleCalls               script[iam.GetRoleInput, iam.GetRoleOutput]
	PutRolePolicyCalls         script[iam.PutRolePolicyInput, iam.PutRolePolicyOutput]
	ListRolePoliciesCalls      script[iam.ListRolePoliciesInput, iam.ListRolePoliciesOutput]
	ListAttachedCalls          script[iam.ListAttachedRolePoliciesInput, iam.ListAttachedRolePoliciesOutput]
	CreateInstanceProfileCalls script[iam.CreateInstanceProfileInput, iam.CreateInstanceProfileOutput]
	AddRoleCalls               script[iam.AddRoleToInstanceProfileInput, iam.AddRoleToInstanceProfileOutput]
	RemoveRoleCalls            script[iam.RemoveRoleFromInstanceProfileInput, iam.RemoveRoleFromInstanceProfileOutput]
	DeleteInstanceProfileCalls script[iam.DeleteInstanceProfileInput, iam.DeleteInstanceProfileOutput]
	DeleteRolePolicyCalls      script[iam.DeleteRolePolicyInput, iam.DeleteRolePolicyOutput]
	DeleteRoleCalls            script[iam.DeleteRoleInput, iam.DeleteRoleOutput]
}

var _ instanceProfileManager = (*fakeIAM)(nil)

func newFakeIAM(t *testing.T) *fakeIAM {
	f := &fakeIAM{}
	f.fake = newFake(t, map[string]pending{
		"GetInstanceProfile":            &f.GetInstanceProfileCalls,
		"CreateRole":                    &f.CreateRoleCalls,
		"GetRole":                       &f.GetRoleCalls,
		"PutRolePolicy":                 &f.PutRolePolicyCalls,
		"ListRolePolicies":              &f.ListRolePoliciesCalls,
		"ListAttachedRolePolicies":      &f.ListAttachedCalls,
		"CreateInstanceProfile":         &f.CreateInstanceProfileCalls,
		"AddRoleToInstanceProfile":      &f.AddRoleCalls,
		"RemoveRoleFromInstanceProfile": &f.RemoveRoleCalls,
		"DeleteInstanceProfile":         &f.DeleteInstanceProfileCalls,
		"DeleteRolePolicy":              &f.DeleteRolePolicyCalls,
		"DeleteRole":                    &f.DeleteRoleCalls,
	})
	return f
}

func (f *fakeIAM) GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, _ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	return call(&f.fake, &f.GetInstanceProfileCalls, "GetInstanceProfile", ctx, in)
}

func (f *fakeIAM) CreateRole(ctx context.Context, in *iam.CreateRoleInput, _ ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	return call(&f.fake, &f.CreateRoleCalls, "CreateRole", ctx, in)
}

func (f *fakeIAM) GetRole(ctx context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return call(&f.fake, &f.GetRoleCalls, "GetRole", ctx, in)
}

func (f *fakeIAM) PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	return call(&f.fake, &f.PutRolePolicyCalls, "PutRolePolicy", ctx, in)
}

func (f *fakeIAM) ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	return call(&f.fake, &f.ListRolePoliciesCalls, "ListRolePolicies", ctx, in)
}

func (f *fakeIAM) ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	return call(&f.fake, &f.ListAttachedCalls, "ListAttachedRolePolicies", ctx, in)
}

func (f *fakeIAM) CreateInstanceProfile(ctx context.Context, in *iam.CreateInstanceProfileInput, _ ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error) {
	return call(&f.fake, &f.CreateInstanceProfileCalls, "CreateInstanceProfile", ctx, in)
}

func (f *fakeIAM) AddRoleToInstanceProfile(ctx context.Context, in *iam.AddRoleToInstanceProfileInput, _ ...func(*iam.Options)) (*iam.AddRoleToInstanceProfileOutput, error) {
	return call(&f.fake, &f.AddRoleCalls, "AddRoleToInstanceProfile", ctx, in)
}

func (f *fakeIAM) RemoveRoleFromInstanceProfile(ctx context.Context, in *iam.RemoveRoleFromInstanceProfileInput, _ ...func(*iam.Options)) (*iam.RemoveRoleFromInstanceProfileOutput, error) {
	return call(&f.fake, &f.RemoveRoleCalls, "RemoveRoleFromInstanceProfile", ctx, in)
}

func (f *fakeIAM) DeleteInstanceProfile(ctx context.Context, in *iam.DeleteInstanceProfileInput, _ ...func(*iam.Options)) (*iam.DeleteInstanceProfileOutput, error) {
	return call(&f.fake, &f.DeleteInstanceProfileCalls, "DeleteInstanceProfile", ctx, in)
}

func (f *fakeIAM) DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, _ ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error) {
	return call(&f.fake, &f.DeleteRolePolicyCalls, "DeleteRolePolicy", ctx, in)
}

func (f *fakeIAM) DeleteRole(ctx context.Context, in *iam.DeleteRoleInput, _ ...func(*iam.Options)) (*iam.DeleteRoleOutput, error) {
	return call(&f.fake, &f.DeleteRoleCalls, "DeleteRole", ctx, in)
}

const (
	tmpProfile    = "packer_bakery_b1"
	tmpRoleARN    = "arn:aws:iam::123456789012:role/packer_bakery_b1"
	tmpProfileARN = "arn:aws:iam::123456789012:instance-profile/packer_bakery_b1"
)

var iamStepTags = bakery.Tags{bakery.TagBuildID: "b1", bakery.TagCreatedBy: "test", "Team": "seeds"}

var seedsPolicy = &PolicyDocument{Version: "2012-10-17", Statement: []PolicyStatement{
	{Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: []string{"arn:aws:s3:::seeds/*"}},
	{Effect: "Allow", Action: []string{"ssm:GetParameter"}, Resource: []string{"arn:aws:ssm:us-east-1:123456789012:parameter/seeds/token"}},
}}

func iamTagList(tags bakery.Tags) []types.Tag {
	var out []types.Tag
	for _, t := range tags.EC2() {
		out = append(out, types.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

func iamTagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func profileWithRole(roles ...string) *iam.GetInstanceProfileOutput {
	p := &types.InstanceProfile{InstanceProfileName: aws.String(tmpProfile), Arn: aws.String(tmpProfileARN), Tags: iamTagList(iamStepTags)}
	for _, r := range roles {
		p.Roles = append(p.Roles, types.Role{RoleName: aws.String(r)})
	}
	return &iam.GetInstanceProfileOutput{InstanceProfile: p}
}

func newTempProfileStep(f instanceProfileManager, j *journal.Journal) *stepIAMInstanceProfile {
	return &stepIAMInstanceProfile{iam: f, document: seedsPolicy, name: tmpProfile, tags: iamStepTags, poll: fastPoll, journal: j}
}

// testJournal is a journal in a folder of the test's own.
func testJournal(t *testing.T) *journal.Journal {
	t.Helper()
	t.Setenv(journal.EnvDir, t.TempDir())
	j, err := journal.Open("b1", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func journalKinds(j *journal.Journal) map[string]string {
	m := map[string]string{}
	for _, r := range j.Remaining() {
		m[r.ID] = string(r.Kind)
	}
	return m
}

// scriptCreate scripts the calls of a temporary profile made from nothing.
func scriptCreate(f *fakeIAM) {
	f.CreateRoleCalls.Return(&iam.CreateRoleOutput{Role: &types.Role{RoleName: aws.String(tmpProfile), Arn: aws.String(tmpRoleARN)}}, nil)
	f.PutRolePolicyCalls.Return(nil, nil)
	f.CreateInstanceProfileCalls.Return(&iam.CreateInstanceProfileOutput{InstanceProfile: &types.InstanceProfile{
		InstanceProfileName: aws.String(tmpProfile), Arn: aws.String(tmpProfileARN)}}, nil)
	f.AddRoleCalls.Return(nil, nil)
	f.GetInstanceProfileCalls.Return(profileWithRole(tmpProfile), nil)
}

func scriptDelete(f *fakeIAM) {
	f.RemoveRoleCalls.Return(nil, nil)
	f.DeleteInstanceProfileCalls.Return(nil, nil)
	f.DeleteRolePolicyCalls.Return(nil, nil)
	f.DeleteRoleCalls.Return(nil, nil)
}

func TestStepIAMInstanceProfile_none(t *testing.T) {
	f := newFakeIAM(t) // fails on any call
	state, ui := newState(t)
	step := &stepIAMInstanceProfile{iam: f, name: tmpProfile, tags: iamStepTags, poll: fastPoll}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	wantNoKeys(t, state, keyInstanceProfile)
	if spec := getInstanceProfileSpec(state); spec != nil {
		t.Errorf("launch would name instance profile %s", aws.ToString(spec.Name))
	}
	step.Cleanup(state)
}

func TestStepIAMInstanceProfile_existing(t *testing.T) {
	f := newFakeIAM(t)
	f.GetInstanceProfileCalls.Return(&iam.GetInstanceProfileOutput{InstanceProfile: &types.InstanceProfile{
		InstanceProfileName: aws.String("build-readers"), Roles: []types.Role{{RoleName: aws.String("readers")}}}}, nil)
	state, ui := newState(t)
	step := &stepIAMInstanceProfile{iam: f, existing: "build-readers", name: tmpProfile, tags: iamStepTags, poll: fastPoll}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if got := aws.ToString(f.GetInstanceProfileCalls.Input(t).InstanceProfileName); got != "build-readers" {
		t.Errorf("checked profile %q, want build-readers", got)
	}
	if spec := getInstanceProfileSpec(state); spec == nil || aws.ToString(spec.Name) != "build-readers" || spec.Arn != nil {
		t.Errorf("launch profile = %s, want Name build-readers", jsonString(spec))
	}
	if !strings.Contains(ui.Out.String(), "Using instance profile build-readers (role readers)") {
		t.Errorf("user not told which profile and role: %q", ui.Out.String())
	}
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // never deletes what it did not create
}

func TestStepIAMInstanceProfile_existingWithoutRoleWarns(t *testing.T) {
	f := newFakeIAM(t)
	f.GetInstanceProfileCalls.Return(&iam.GetInstanceProfileOutput{InstanceProfile: &types.InstanceProfile{InstanceProfileName: aws.String("empty")}}, nil)
	state, ui := newState(t)
	step := &stepIAMInstanceProfile{iam: f, existing: "empty", name: tmpProfile, poll: fastPoll}

	if got := step.Run(t.Context(), state); got != multistep.ActionContinue {
		t.Fatalf("action = %v, want ActionContinue", got)
	}
	if !strings.Contains(ui.Err.String(), "instance profile empty holds no role") {
		t.Errorf("no warning about the empty profile: %q", ui.Err.String())
	}
}

func TestStepIAMInstanceProfile_existingSkipValidation(t *testing.T) {
	f := newFakeIAM(t) // no call allowed
	state, ui := newState(t)
	step := &stepIAMInstanceProfile{iam: f, existing: "build-readers", skipValidation: true, name: tmpProfile, poll: fastPoll}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if spec := getInstanceProfileSpec(state); spec == nil || aws.ToString(spec.Name) != "build-readers" {
		t.Errorf("launch profile = %s, want build-readers", jsonString(spec))
	}
}

func TestStepIAMInstanceProfile_existingCheckFails(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"missing", apiErr("NoSuchEntity"), []string{"`iam_instance_profile` \"build-readers\": no instance profile of that name", "nothing was launched"}},
		{"not allowed to read", apiErr("AccessDenied"), []string{"checking `iam_instance_profile` \"build-readers\"", "skip_profile_validation = true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIAM(t)
			f.GetInstanceProfileCalls.Return(nil, tt.err)
			state, ui := newState(t)
			step := &stepIAMInstanceProfile{iam: f, existing: "build-readers", name: tmpProfile, poll: fastPoll}

			err := wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want...)
			wantAPICode(t, err, apiErrorCode(tt.err))
			wantNoKeys(t, state, keyInstanceProfile)
			step.Cleanup(state)
		})
	}
}

func TestStepIAMInstanceProfile_temporary(t *testing.T) {
	f := newFakeIAM(t)
	scriptCreate(f)
	j := testJournal(t)
	state, ui := newState(t)
	step := newTempProfileStep(f, j)

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	if want := []string{"CreateRole", "PutRolePolicy", "CreateInstanceProfile", "AddRoleToInstanceProfile", "GetInstanceProfile"}; !reflect.DeepEqual(f.Order, want) {
		t.Errorf("calls %v, want %v", f.Order, want)
	}
	role := f.CreateRoleCalls.Input(t)
	if aws.ToString(role.RoleName) != tmpProfile {
		t.Errorf("role named %q, want %s", aws.ToString(role.RoleName), tmpProfile)
	}
	if got := iamTagMap(role.Tags); !reflect.DeepEqual(got, map[string]string(iamStepTags)) {
		t.Errorf("role tagged at creation with %v, want %v", got, iamStepTags)
	}
	var trust struct {
		Statement []struct {
			Effect    string
			Principal struct{ Service string }
			Action    string
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(role.AssumeRolePolicyDocument)), &trust); err != nil {
		t.Fatalf("trust policy %s: %v", aws.ToString(role.AssumeRolePolicyDocument), err)
	}
	if len(trust.Statement) != 1 || trust.Statement[0].Principal.Service != "ec2.amazonaws.com" ||
		trust.Statement[0].Action != "sts:AssumeRole" || trust.Statement[0].Effect != "Allow" {
		t.Errorf("trust policy %s: want EC2 alone allowed to assume the role", aws.ToString(role.AssumeRolePolicyDocument))
	}

	put := f.PutRolePolicyCalls.Input(t)
	want, _ := seedsPolicy.JSON()
	if aws.ToString(put.RoleName) != tmpProfile || aws.ToString(put.PolicyName) != tmpProfile || aws.ToString(put.PolicyDocument) != want {
		t.Errorf("PutRolePolicy %s, want the template's document on role %s", jsonString(put), tmpProfile)
	}
	profile := f.CreateInstanceProfileCalls.Input(t)
	if aws.ToString(profile.InstanceProfileName) != tmpProfile || !reflect.DeepEqual(iamTagMap(profile.Tags), map[string]string(iamStepTags)) {
		t.Errorf("CreateInstanceProfile %s, want %s tagged %v at creation", jsonString(profile), tmpProfile, iamStepTags)
	}
	add := f.AddRoleCalls.Input(t)
	if aws.ToString(add.InstanceProfileName) != tmpProfile || aws.ToString(add.RoleName) != tmpProfile {
		t.Errorf("AddRoleToInstanceProfile %s", jsonString(add))
	}
	if spec := getInstanceProfileSpec(state); spec == nil || aws.ToString(spec.Name) != tmpProfile {
		t.Errorf("launch profile = %s, want %s", jsonString(spec), tmpProfile)
	}
	if got, want := journalKinds(j), map[string]string{tmpRoleARN: string(journal.KindIAMRole), tmpProfileARN: string(journal.KindIAMInstanceProfile)}; !reflect.DeepEqual(got, want) {
		t.Errorf("journal holds %v, want %v", got, want)
	}

	scriptDelete(f)
	f.Order = nil
	step.Cleanup(state)
	if want := []string{"RemoveRoleFromInstanceProfile", "DeleteInstanceProfile", "DeleteRolePolicy", "DeleteRole"}; !reflect.DeepEqual(f.Order, want) {
		t.Errorf("cleanup calls %v, want %v", f.Order, want)
	}
	if in := f.DeleteRolePolicyCalls.Input(t); aws.ToString(in.PolicyName) != tmpProfile || aws.ToString(in.RoleName) != tmpProfile {
		t.Errorf("DeleteRolePolicy %s", jsonString(in))
	}
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup showed an error: %s", ui.Err.String())
	}
	if left := j.Remaining(); len(left) != 0 {
		t.Errorf("journal still holds %v after cleanup", left)
	}
	step.Cleanup(state) // nothing left: no call
}

func TestStepIAMInstanceProfile_adoptsOwnEntitiesAfterLostReplies(t *testing.T) {
	f := newFakeIAM(t)
	f.CreateRoleCalls.Return(nil, apiErr("EntityAlreadyExists"))
	f.GetRoleCalls.Return(&iam.GetRoleOutput{Role: sentRole()}, nil)
	f.ListAttachedCalls.Return(nil, nil)
	f.ListRolePoliciesCalls.Return(nil, nil)
	f.PutRolePolicyCalls.Return(nil, nil)
	f.CreateInstanceProfileCalls.Return(nil, apiErr("EntityAlreadyExists"))
	// The lost attempt got as far as adding the role: no AddRole call.
	f.GetInstanceProfileCalls.Return(profileWithRole(tmpProfile), nil).Return(profileWithRole(tmpProfile), nil)
	j := testJournal(t)
	state, ui := newState(t)
	step := newTempProfileStep(f, j)

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if f.AddRoleCalls.Called() != 0 {
		t.Error("added the role again to a profile that holds it")
	}
	for _, w := range []string{"Role packer_bakery_b1 was created by an attempt whose reply was lost", "Instance profile packer_bakery_b1 was created by an attempt whose reply was lost"} {
		if !strings.Contains(ui.Out.String(), w) {
			t.Errorf("user not told %q: %q", w, ui.Out.String())
		}
	}
	if got := journalKinds(j); len(got) != 2 {
		t.Errorf("journal holds %v, want the adopted role and profile", got)
	}
	scriptDelete(f)
	step.Cleanup(state)
	if f.DeleteRoleCalls.Called() != 1 || f.DeleteInstanceProfileCalls.Called() != 1 {
		t.Error("adopted entities were not deleted")
	}
}

// sentRole is the role our CreateRole made, as IAM's GetRole returns it
// (the trust policy URL-encoded).
func sentRole() *types.Role {
	return &types.Role{RoleName: aws.String(tmpProfile), Arn: aws.String(tmpRoleARN), Tags: iamTagList(iamStepTags),
		Description: aws.String(tempRoleDescription), AssumeRolePolicyDocument: aws.String(url.QueryEscape(ec2TrustPolicy))}
}

func TestStepIAMInstanceProfile_addRoleRetryAfterLostReply(t *testing.T) {
	f := newFakeIAM(t)
	f.CreateRoleCalls.Return(&iam.CreateRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN)}}, nil)
	f.PutRolePolicyCalls.Return(nil, nil)
	f.CreateInstanceProfileCalls.Return(&iam.CreateInstanceProfileOutput{InstanceProfile: &types.InstanceProfile{Arn: aws.String(tmpProfileARN)}}, nil)
	// The SDK's retry of a lost AddRole reply: the profile is full.
	f.AddRoleCalls.Return(nil, apiErr("LimitExceeded"))
	f.GetInstanceProfileCalls.Return(profileWithRole(tmpProfile), nil)
	state, ui := newState(t)
	step := newTempProfileStep(f, nil)

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	scriptDelete(f)
	step.Cleanup(state)
}

func TestStepIAMInstanceProfile_refusesOthersEntities(t *testing.T) {
	other := bakery.Tags{bakery.TagBuildID: "someone-else"}
	tests := []struct {
		name  string
		setup func(*fakeIAM)
		want  string
		// what Cleanup must delete: only what this build made
		cleanup func(*fakeIAM)
	}{
		{
			name: "role of another build",
			setup: func(f *fakeIAM) {
				f.CreateRoleCalls.Return(nil, apiErr("EntityAlreadyExists"))
				f.GetRoleCalls.Return(&iam.GetRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN), Tags: iamTagList(other)}}, nil)
			},
			want:    `creating temporary IAM role "packer_bakery_b1": role "packer_bakery_b1" already exists and is not this build's`,
			cleanup: func(*fakeIAM) {},
		},
		{
			// The build id shows in the key pair's name: a role planted with
			// it, trusting its maker, must not get the template's policy.
			name: "role with this build's tag that trusts someone else",
			setup: func(f *fakeIAM) {
				planted := sentRole()
				planted.AssumeRolePolicyDocument = aws.String(url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/mallory"},"Action":"sts:AssumeRole"}]}`))
				f.CreateRoleCalls.Return(nil, apiErr("EntityAlreadyExists"))
				f.GetRoleCalls.Return(&iam.GetRoleOutput{Role: planted}, nil)
			},
			want:    `role "packer_bakery_b1" carries this build's tag but is not what the build made`,
			cleanup: func(*fakeIAM) {},
		},
		{
			// Trust policy and description as sent, but a managed policy
			// of its maker's attached: the instance would get it too.
			name: "role with this build's tag and an attached policy",
			setup: func(f *fakeIAM) {
				f.CreateRoleCalls.Return(nil, apiErr("EntityAlreadyExists"))
				f.GetRoleCalls.Return(&iam.GetRoleOutput{Role: sentRole()}, nil)
				f.ListAttachedCalls.Return(&iam.ListAttachedRolePoliciesOutput{AttachedPolicies: []types.AttachedPolicy{{
					PolicyName: aws.String("AdministratorAccess"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")}}}, nil)
			},
			want:    `role "packer_bakery_b1" carries this build's tag but is not what the build made (managed policies are attached to it: arn:aws:iam::aws:policy/AdministratorAccess)`,
			cleanup: func(*fakeIAM) {},
		},
		{
			name: "role with this build's tag and an inline policy",
			setup: func(f *fakeIAM) {
				f.CreateRoleCalls.Return(nil, apiErr("EntityAlreadyExists"))
				f.GetRoleCalls.Return(&iam.GetRoleOutput{Role: sentRole()}, nil)
				f.ListAttachedCalls.Return(nil, nil)
				f.ListRolePoliciesCalls.Return(&iam.ListRolePoliciesOutput{PolicyNames: []string{"everything"}}, nil)
			},
			want:    `role "packer_bakery_b1" carries this build's tag but is not what the build made (it holds inline policies: everything)`,
			cleanup: func(*fakeIAM) {},
		},
		{
			// A profile planted with our tag and its maker's role: neither
			// used, nor journaled, nor deleted.
			name: "profile with this build's tag holding another role",
			setup: func(f *fakeIAM) {
				f.CreateRoleCalls.Return(&iam.CreateRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN)}}, nil)
				f.PutRolePolicyCalls.Return(nil, nil)
				f.CreateInstanceProfileCalls.Return(nil, apiErr("EntityAlreadyExists"))
				f.GetInstanceProfileCalls.Return(profileWithRole("mallory-admin"), nil)
			},
			want: `creating temporary instance profile "packer_bakery_b1": instance profile "packer_bakery_b1" carries this build's tag but is not what the build made (path none, roles mallory-admin)`,
			cleanup: func(f *fakeIAM) {
				f.DeleteRolePolicyCalls.Return(nil, nil)
				f.DeleteRoleCalls.Return(nil, nil)
			},
		},
		{
			name: "untagged profile",
			setup: func(f *fakeIAM) {
				f.CreateRoleCalls.Return(&iam.CreateRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN)}}, nil)
				f.PutRolePolicyCalls.Return(nil, nil)
				f.CreateInstanceProfileCalls.Return(nil, apiErr("EntityAlreadyExists"))
				f.GetInstanceProfileCalls.Return(&iam.GetInstanceProfileOutput{InstanceProfile: &types.InstanceProfile{Arn: aws.String(tmpProfileARN)}}, nil)
			},
			want: `creating temporary instance profile "packer_bakery_b1": instance profile "packer_bakery_b1" already exists and is not this build's`,
			cleanup: func(f *fakeIAM) {
				f.DeleteRolePolicyCalls.Return(nil, nil)
				f.DeleteRoleCalls.Return(nil, nil)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIAM(t)
			tt.setup(f)
			state, ui := newState(t)
			step := newTempProfileStep(f, nil)

			wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want)
			wantNoKeys(t, state, keyInstanceProfile)
			tt.cleanup(f)
			step.Cleanup(state) // an unscripted call fails the test
		})
	}
}

func TestStepIAMInstanceProfile_waitsForIAMToShowTheProfile(t *testing.T) {
	f := newFakeIAM(t)
	scriptCreate(f)
	f.GetInstanceProfileCalls.replies = nil
	f.GetInstanceProfileCalls.
		Return(nil, apiErr("NoSuchEntity")).
		Return(profileWithRole(), nil).
		Return(profileWithRole(tmpProfile), nil)
	state, ui := newState(t)
	step := newTempProfileStep(f, nil)

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if n := f.GetInstanceProfileCalls.Called(); n != 3 {
		t.Errorf("GetInstanceProfile called %d times, want 3 (missing, empty, ready)", n)
	}
	for _, w := range []string{"Waiting for instance profile packer_bakery_b1 to show its role (now not visible yet",
		"(now without its role yet"} {
		if !strings.Contains(ui.Out.String(), w) {
			t.Errorf("progress %q not reported: %q", w, ui.Out.String())
		}
	}
	scriptDelete(f)
	step.Cleanup(state)
}

func TestStepIAMInstanceProfile_createFailsMidway(t *testing.T) {
	f := newFakeIAM(t)
	f.CreateRoleCalls.Return(&iam.CreateRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN)}}, nil)
	f.PutRolePolicyCalls.Return(nil, apiErr("MalformedPolicyDocument"))
	j := testJournal(t)
	state, ui := newState(t)
	step := newTempProfileStep(f, j)

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, `putting the policy of `+"`temporary_iam_instance_profile_policy_document`"+` on role "packer_bakery_b1"`)
	wantAPICode(t, err, "MalformedPolicyDocument")
	wantNoKeys(t, state, keyInstanceProfile)

	// The role exists without its policy: only the role goes.
	f.DeleteRoleCalls.Return(nil, nil)
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state)
	if got := aws.ToString(f.DeleteRoleCalls.Input(t).RoleName); got != tmpProfile {
		t.Errorf("deleted role %q", got)
	}
	if left := j.Remaining(); len(left) != 0 {
		t.Errorf("journal still holds %v", left)
	}
}

func TestStepIAMInstanceProfile_cleanupAfterCancel(t *testing.T) {
	f := newFakeIAM(t)
	scriptCreate(f)
	ctx, cancel := context.WithCancel(t.Context())
	state, ui := newState(t)
	step := newTempProfileStep(f, nil)

	wantContinue(t, step.Run(ctx, state), state, ui)
	cancel()
	state.Put(multistep.StateCancelled, true)
	scriptDelete(f)
	step.Cleanup(state)
	wantLiveCleanupContexts(t, "RemoveRoleFromInstanceProfile", f.RemoveRoleCalls.CtxErrs, f.RemoveRoleCalls.HadDeadline)
	wantLiveCleanupContexts(t, "DeleteInstanceProfile", f.DeleteInstanceProfileCalls.CtxErrs, f.DeleteInstanceProfileCalls.HadDeadline)
	wantLiveCleanupContexts(t, "DeleteRolePolicy", f.DeleteRolePolicyCalls.CtxErrs, f.DeleteRolePolicyCalls.HadDeadline)
	wantLiveCleanupContexts(t, "DeleteRole", f.DeleteRoleCalls.CtxErrs, f.DeleteRoleCalls.HadDeadline)
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup after a cancel showed an error: %s", ui.Err.String())
	}
}

func TestStepIAMInstanceProfile_cleanupAlreadyGone(t *testing.T) {
	f := newFakeIAM(t)
	scriptCreate(f)
	state, ui := newState(t)
	step := newTempProfileStep(f, nil)
	wantContinue(t, step.Run(t.Context(), state), state, ui)

	f.RemoveRoleCalls.Return(nil, apiErr("NoSuchEntity"))
	f.DeleteInstanceProfileCalls.Return(nil, apiErr("NoSuchEntity"))
	f.DeleteRolePolicyCalls.Return(nil, apiErr("NoSuchEntity"))
	f.DeleteRoleCalls.Return(nil, apiErr("NoSuchEntity"))
	step.Cleanup(state)
	if ui.Err.Len() > 0 {
		t.Errorf("entities deleted by someone else are not a cleanup failure: %s", ui.Err.String())
	}
}

func TestStepIAMInstanceProfile_cleanupFails(t *testing.T) {
	const (
		remove  = "aws iam remove-role-from-instance-profile --instance-profile-name packer_bakery_b1 --role-name packer_bakery_b1"
		profile = "aws iam delete-instance-profile --instance-profile-name packer_bakery_b1"
		policy  = "aws iam delete-role-policy --role-name packer_bakery_b1 --policy-name packer_bakery_b1"
		role    = "aws iam delete-role --role-name packer_bakery_b1"
	)
	tests := []struct {
		name      string
		setup     func(*fakeIAM)
		wantCalls []string
		want      []string // in the error shown
		left      []string // journal kinds still recorded
	}{
		{
			name:      "role stays in the profile",
			setup:     func(f *fakeIAM) { f.RemoveRoleCalls.Return(nil, apiErr("AccessDenied")) },
			wantCalls: []string{"RemoveRoleFromInstanceProfile"},
			want: []string{"Could not delete temporary instance profile packer_bakery_b1: removing role packer_bakery_b1 from it", "AccessDenied",
				"Delete it by hand: " + remove + " && " + profile + " && " + policy + " && " + role},
			left: []string{string(journal.KindIAMInstanceProfile), string(journal.KindIAMRole)},
		},
		{
			name: "profile stays, role goes",
			setup: func(f *fakeIAM) {
				f.RemoveRoleCalls.Return(nil, nil)
				f.DeleteInstanceProfileCalls.Return(nil, apiErr("ServiceFailure"))
				f.DeleteRolePolicyCalls.Return(nil, nil)
				f.DeleteRoleCalls.Return(nil, nil)
			},
			wantCalls: []string{"RemoveRoleFromInstanceProfile", "DeleteInstanceProfile", "DeleteRolePolicy", "DeleteRole"},
			want:      []string{"Could not delete temporary instance profile packer_bakery_b1", "ServiceFailure", "Delete it by hand: " + profile + "\n"},
			left:      []string{string(journal.KindIAMInstanceProfile)},
		},
		{
			name: "policy stays",
			setup: func(f *fakeIAM) {
				f.RemoveRoleCalls.Return(nil, nil)
				f.DeleteInstanceProfileCalls.Return(nil, nil)
				f.DeleteRolePolicyCalls.Return(nil, apiErr("AccessDenied"))
			},
			wantCalls: []string{"RemoveRoleFromInstanceProfile", "DeleteInstanceProfile", "DeleteRolePolicy"},
			want:      []string{"Could not delete temporary IAM role packer_bakery_b1: deleting its policy packer_bakery_b1", "Delete it by hand: " + policy + " && " + role},
			left:      []string{string(journal.KindIAMRole)},
		},
		{
			name: "role stays",
			setup: func(f *fakeIAM) {
				f.RemoveRoleCalls.Return(nil, nil)
				f.DeleteInstanceProfileCalls.Return(nil, nil)
				f.DeleteRolePolicyCalls.Return(nil, nil)
				f.DeleteRoleCalls.Return(nil, apiErr("DeleteConflict"))
			},
			wantCalls: []string{"RemoveRoleFromInstanceProfile", "DeleteInstanceProfile", "DeleteRolePolicy", "DeleteRole"},
			want:      []string{"Could not delete temporary IAM role packer_bakery_b1", "DeleteConflict", "Delete it by hand: " + role + "\n"},
			left:      []string{string(journal.KindIAMRole)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIAM(t)
			scriptCreate(f)
			j := testJournal(t)
			state, ui := newState(t)
			step := newTempProfileStep(f, j)
			wantContinue(t, step.Run(t.Context(), state), state, ui)

			tt.setup(f)
			f.Order = nil
			step.Cleanup(state)
			if !reflect.DeepEqual(f.Order, tt.wantCalls) {
				t.Errorf("cleanup calls %v, want %v", f.Order, tt.wantCalls)
			}
			for _, w := range tt.want {
				if !strings.Contains(ui.Err.String()+"\n", w) {
					t.Errorf("cleanup error does not say %q:\n%s", w, ui.Err.String())
				}
			}
			var left []string
			for _, r := range j.Remaining() {
				left = append(left, string(r.Kind))
			}
			if !reflect.DeepEqual(sortedCopy(left), sortedCopy(tt.left)) {
				t.Errorf("journal holds %v, want %v (what was not deleted)", left, tt.left)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for k := i + 1; k < len(out); k++ {
			if out[k] < out[i] {
				out[i], out[k] = out[k], out[i]
			}
		}
	}
	return out
}

// The launch names the profile the step left in state.
func TestStepRunInstance_inputNamesInstanceProfile(t *testing.T) {
	state, _ := stateWithNetwork(t)
	state.Put(keySourceImage, ec2types.Image{ImageId: aws.String("ami-1")})
	state.Put(keySGIDs, []string{"sg-1"})
	step := &stepRunInstance{instanceType: "t3.micro", clientToken: "tok"}
	if in := step.input(state); in.IamInstanceProfile != nil {
		t.Errorf("launch without a profile names %s", jsonString(in.IamInstanceProfile))
	}
	state.Put(keyInstanceProfile, tmpProfile)
	if in := step.input(state); in.IamInstanceProfile == nil || aws.ToString(in.IamInstanceProfile.Name) != tmpProfile {
		t.Errorf("IamInstanceProfile = %s, want Name %s", jsonString(in.IamInstanceProfile), tmpProfile)
	}
}

// unknownProfileErr is EC2's reply to a profile IAM has but EC2 not yet.
func unknownProfileErr() error {
	return &smithy.OperationError{ServiceID: "EC2", OperationName: "RunInstances", Err: &smithy.GenericAPIError{
		Code: "InvalidParameterValue", Message: "Value (packer_bakery_b1) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"}}
}

func profileLaunch(name string) *ec2.RunInstancesInput {
	in := &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), ClientToken: aws.String("tok")}
	if name != "" {
		in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: aws.String(name)}
	}
	return in
}

func TestProfileLauncher_retriesWhileEC2DoesNotKnowTheProfile(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.Return(nil, unknownProfileErr()).Return(nil, unknownProfileErr()).
		Return(&ec2.RunInstancesOutput{Instances: []ec2types.Instance{{InstanceId: aws.String("i-1")}}}, nil)
	var said []string
	l := &profileLauncher{instanceRunner: f, say: func(s string) { said = append(said, s) }, poll: fastPoll}

	out, err := l.RunInstances(t.Context(), profileLaunch(tmpProfile))
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	if len(out.Instances) != 1 || aws.ToString(out.Instances[0].InstanceId) != "i-1" {
		t.Errorf("output %s, want the launch's", jsonString(out))
	}
	if n := f.RunInstancesCalls.Called(); n != 3 {
		t.Errorf("RunInstances called %d times, want 3", n)
	}
	for _, in := range f.RunInstancesCalls.Inputs {
		if aws.ToString(in.ClientToken) != "tok" {
			t.Errorf("retry changed the client token to %q", aws.ToString(in.ClientToken))
		}
	}
	if !strings.Contains(strings.Join(said, "\n"), "Waiting for EC2 to accept instance profile packer_bakery_b1 (now unknown to EC2 yet") {
		t.Errorf("progress not reported: %q", said)
	}
}

func TestProfileLauncher_passesOtherErrorsAndLaunches(t *testing.T) {
	tests := []struct {
		name    string
		profile string
		err     error
	}{
		{"other error with a profile", tmpProfile, apiErr("InsufficientInstanceCapacity")},
		{"other InvalidParameterValue", tmpProfile, apiErr("InvalidParameterValue")},
		{"profile error without a profile", "", unknownProfileErr()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeInstances(t)
			f.RunInstancesCalls.Return(nil, tt.err)
			l := &profileLauncher{instanceRunner: f, say: func(string) {}, poll: fastPoll}
			_, err := l.RunInstances(t.Context(), profileLaunch(tt.profile))
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v, want the launch's own %v", err, tt.err)
			}
			if n := f.RunInstancesCalls.Called(); n != 1 {
				t.Errorf("RunInstances called %d times, want 1", n)
			}
		})
	}
}

func TestProfileLauncher_givesUp(t *testing.T) {
	f := newFakeInstances(t)
	f.RunInstancesCalls.ReturnAlways(nil, unknownProfileErr())
	l := &profileLauncher{instanceRunner: f, say: func(string) {}, poll: bakery.Poll{Interval: time.Millisecond, Timeout: 20 * time.Millisecond}}
	_, err := l.RunInstances(t.Context(), profileLaunch(tmpProfile))
	if err == nil || !strings.Contains(err.Error(), "EC2 still rejects instance profile packer_bakery_b1 after 20ms") {
		t.Fatalf("error %v, want a bounded give-up", err)
	}
	wantAPICode(t, err, "InvalidParameterValue")
}

func TestProfileLauncher_stopsOnCancel(t *testing.T) {
	f := newFakeInstances(t)
	ctx, cancel := context.WithCancel(t.Context())
	f.RunInstancesCalls.ReturnFunc(func(*ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error) {
		cancel()
		return nil, unknownProfileErr()
	})
	l := &profileLauncher{instanceRunner: f, say: func(string) {}, poll: bakery.Poll{Interval: time.Hour}}
	_, err := l.RunInstances(ctx, profileLaunch(tmpProfile))
	wantErrorIs(t, err, context.Canceled)
}

// Ctrl-C while a create is in flight: the create may have taken effect
// without its reply arriving. Cleanup finds this build's entity by name and
// tags and deletes it, and leaves one that is not this build's.
func TestStepIAMInstanceProfile_cancelledMidCreate(t *testing.T) {
	ours := iamTagList(iamStepTags)
	others := iamTagList(bakery.Tags{bakery.TagBuildID: "other"})
	tests := []struct {
		name      string
		setup     func(f *fakeIAM, cancel func())
		wantRun   []string // Run's: up to the cancelled call, nothing after
		wantCalls []string // Cleanup's
		wantLeft  []string // journal kinds after Cleanup
	}{
		{
			name: "role created, reply lost",
			setup: func(f *fakeIAM, cancel func()) {
				f.CreateRoleCalls.ReturnFunc(func(*iam.CreateRoleInput) (*iam.CreateRoleOutput, error) {
					cancel()
					return nil, context.Canceled
				})
				f.GetRoleCalls.Return(&iam.GetRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN), Tags: ours}}, nil)
				f.DeleteRolePolicyCalls.Return(nil, apiErr("NoSuchEntity"))
				f.DeleteRoleCalls.Return(nil, nil)
			},
			wantRun:   []string{"CreateRole"},
			wantCalls: []string{"GetRole", "DeleteRolePolicy", "DeleteRole"},
		},
		{
			name: "role never made",
			setup: func(f *fakeIAM, cancel func()) {
				f.CreateRoleCalls.ReturnFunc(func(*iam.CreateRoleInput) (*iam.CreateRoleOutput, error) {
					cancel()
					return nil, context.Canceled
				})
				f.GetRoleCalls.Return(nil, apiErr("NoSuchEntity"))
			},
			wantRun:   []string{"CreateRole"},
			wantCalls: []string{"GetRole"},
		},
		{
			name: "a role of that name that is not ours",
			setup: func(f *fakeIAM, cancel func()) {
				f.CreateRoleCalls.ReturnFunc(func(*iam.CreateRoleInput) (*iam.CreateRoleOutput, error) {
					cancel()
					return nil, context.Canceled
				})
				f.GetRoleCalls.Return(&iam.GetRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN), Tags: others}}, nil)
			},
			wantRun:   []string{"CreateRole"},
			wantCalls: []string{"GetRole"},
		},
		{
			name: "profile created, reply lost",
			setup: func(f *fakeIAM, cancel func()) {
				f.CreateRoleCalls.Return(&iam.CreateRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN)}}, nil)
				f.PutRolePolicyCalls.Return(nil, nil)
				f.CreateInstanceProfileCalls.ReturnFunc(func(*iam.CreateInstanceProfileInput) (*iam.CreateInstanceProfileOutput, error) {
					cancel()
					return nil, context.Canceled
				})
				f.GetInstanceProfileCalls.Return(profileWithRole(), nil)
				f.DeleteInstanceProfileCalls.Return(nil, nil)
				f.DeleteRolePolicyCalls.Return(nil, nil)
				f.DeleteRoleCalls.Return(nil, nil)
			},
			wantRun:   []string{"CreateRole", "PutRolePolicy", "CreateInstanceProfile"},
			wantCalls: []string{"GetInstanceProfile", "DeleteInstanceProfile", "DeleteRolePolicy", "DeleteRole"},
		},
		{
			name: "role added to the profile, reply lost",
			setup: func(f *fakeIAM, cancel func()) {
				f.CreateRoleCalls.Return(&iam.CreateRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN)}}, nil)
				f.PutRolePolicyCalls.Return(nil, nil)
				f.CreateInstanceProfileCalls.Return(&iam.CreateInstanceProfileOutput{InstanceProfile: &types.InstanceProfile{Arn: aws.String(tmpProfileARN)}}, nil)
				f.AddRoleCalls.ReturnFunc(func(*iam.AddRoleToInstanceProfileInput) (*iam.AddRoleToInstanceProfileOutput, error) {
					cancel()
					return nil, context.Canceled
				})
				f.GetInstanceProfileCalls.Return(profileWithRole(tmpProfile), nil)
				scriptDelete(f)
			},
			wantRun:   []string{"CreateRole", "PutRolePolicy", "CreateInstanceProfile", "AddRoleToInstanceProfile"},
			wantCalls: []string{"GetInstanceProfile", "RemoveRoleFromInstanceProfile", "DeleteInstanceProfile", "DeleteRolePolicy", "DeleteRole"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIAM(t)
			ctx, cancel := context.WithCancel(t.Context())
			tt.setup(f, cancel)
			j := testJournal(t)
			state, ui := newState(t)
			step := newTempProfileStep(f, j)

			if got := step.Run(ctx, state); got != multistep.ActionHalt {
				t.Fatalf("action = %v, want ActionHalt", got)
			}
			wantNoKeys(t, state, keyInstanceProfile)
			if !reflect.DeepEqual(f.Order, tt.wantRun) {
				t.Errorf("Run's calls %v, want %v", f.Order, tt.wantRun)
			}
			state.Put(multistep.StateCancelled, true)
			f.Order = nil
			step.Cleanup(state)
			if !reflect.DeepEqual(f.Order, tt.wantCalls) {
				t.Errorf("cleanup calls %v, want %v", f.Order, tt.wantCalls)
			}
			if ui.Err.Len() > 0 {
				t.Errorf("cleanup showed an error: %s", ui.Err.String())
			}
			if left := j.Remaining(); len(left) != 0 {
				t.Errorf("journal holds %v after cleanup", left)
			}
			f.Order = nil
			step.Cleanup(state) // a second cleanup looks no more
			if len(f.Order) != 0 {
				t.Errorf("second cleanup called %v", f.Order)
			}
		})
	}
}

func TestIAMTagText(t *testing.T) {
	for in, want := range map[string]string{
		"packer-plugin-bakery 0.1.0-dev root@vm": "packer-plugin-bakery 0.1.0-dev root@vm",
		`packer-plugin-bakery 0.1.0 CORP\me@pc`:  "packer-plugin-bakery 0.1.0 CORP_me@pc",
		"2026-11-24T03:00:00Z":                   "2026-11-24T03:00:00Z",
		"Équipe (seeds)!":                        "Équipe _seeds__",
	} {
		if got := iamTagText(in); got != want {
			t.Errorf("iamTagText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStepIAMInstanceProfile_cancelledDuringPutRolePolicy(t *testing.T) {
	f := newFakeIAM(t)
	ctx, cancel := context.WithCancel(t.Context())
	f.CreateRoleCalls.Return(&iam.CreateRoleOutput{Role: &types.Role{Arn: aws.String(tmpRoleARN)}}, nil)
	f.PutRolePolicyCalls.ReturnFunc(func(*iam.PutRolePolicyInput) (*iam.PutRolePolicyOutput, error) {
		cancel()
		return nil, context.Canceled
	})
	state, _ := newState(t)
	step := newTempProfileStep(f, nil)
	if got := step.Run(ctx, state); got != multistep.ActionHalt {
		t.Fatalf("action = %v, want ActionHalt", got)
	}
	// The policy may be on the role: IAM refuses to delete a role that has one.
	f.DeleteRolePolicyCalls.Return(nil, nil)
	f.DeleteRoleCalls.Return(nil, nil)
	state.Put(multistep.StateCancelled, true)
	step.Cleanup(state)
	if want := []string{"CreateRole", "PutRolePolicy", "DeleteRolePolicy", "DeleteRole"}; !reflect.DeepEqual(f.Order, want) {
		t.Errorf("calls %v, want %v", f.Order, want)
	}
}

const testBoundary = "arn:aws:iam::123456789012:policy/packer-bakery-boundary"

// withBoundary is a role as IAM shows it with that permissions boundary.
func withBoundary(r *types.Role, arn string) *types.Role {
	r.PermissionsBoundary = &types.AttachedPermissionsBoundary{PermissionsBoundaryArn: aws.String(arn),
		PermissionsBoundaryType: types.PermissionsBoundaryAttachmentTypePolicy}
	return r
}

// With temporary_iam_role_permissions_boundary the role is created with
// it; without, with none (as amazon-ebs).
func TestStepIAMInstanceProfile_createsTheRoleWithItsBoundary(t *testing.T) {
	for _, boundary := range []string{testBoundary, ""} {
		t.Run(orNone(boundary), func(t *testing.T) {
			f := newFakeIAM(t)
			scriptCreate(f)
			state, ui := newState(t)
			step := newTempProfileStep(f, nil)
			step.boundary = boundary
			wantContinue(t, step.Run(t.Context(), state), state, ui)
			if got := aws.ToString(f.CreateRoleCalls.Input(t).PermissionsBoundary); got != boundary {
				t.Errorf("CreateRole sent permissions boundary %q, want %q", got, boundary)
			}
			scriptDelete(f)
			step.Cleanup(state)
		})
	}
}

// After a lost CreateRole reply, the role found is adopted only if its
// permissions boundary is exactly the one sent: a role planted with the
// build's tag, trust policy and description but no boundary (or another)
// would let the instance do more than the boundary allows.
func TestStepIAMInstanceProfile_adoptsOnlyTheRoleWithItsBoundary(t *testing.T) {
	tests := []struct {
		name     string
		boundary string // the build's
		role     *types.Role
		want     string // the halt; "" = adopted
	}{
		{name: "ours", boundary: testBoundary, role: withBoundary(sentRole(), testBoundary)},
		{name: "ours, no boundary either side", role: sentRole()},
		{name: "planted without a boundary", boundary: testBoundary, role: sentRole(),
			want: `role "packer_bakery_b1" carries this build's tag but is not what the build made (its permissions boundary is none, the build sets ` + testBoundary + `)`},
		{name: "planted with another boundary", boundary: testBoundary, role: withBoundary(sentRole(), "arn:aws:iam::aws:policy/AdministratorAccess"),
			want: `(its permissions boundary is arn:aws:iam::aws:policy/AdministratorAccess, the build sets ` + testBoundary + `)`},
		{name: "planted with a boundary the build does not set", role: withBoundary(sentRole(), testBoundary),
			want: `(its permissions boundary is ` + testBoundary + `, the build sets none)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIAM(t)
			f.CreateRoleCalls.Return(nil, apiErr("EntityAlreadyExists"))
			f.GetRoleCalls.Return(&iam.GetRoleOutput{Role: tt.role}, nil)
			state, ui := newState(t)
			step := newTempProfileStep(f, nil)
			step.boundary = tt.boundary
			if tt.want != "" {
				wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want)
				wantNoKeys(t, state, keyInstanceProfile)
				step.Cleanup(state) // nothing of ours: an unscripted call fails the test
				return
			}
			f.ListAttachedCalls.Return(nil, nil)
			f.ListRolePoliciesCalls.Return(nil, nil)
			f.PutRolePolicyCalls.Return(nil, nil)
			f.CreateInstanceProfileCalls.Return(&iam.CreateInstanceProfileOutput{InstanceProfile: &types.InstanceProfile{Arn: aws.String(tmpProfileARN)}}, nil)
			f.AddRoleCalls.Return(nil, nil)
			f.GetInstanceProfileCalls.Return(profileWithRole(tmpProfile), nil)
			wantContinue(t, step.Run(t.Context(), state), state, ui)
			scriptDelete(f)
			step.Cleanup(state)
		})
	}
}

// A refused CreateRole with a boundary says what the boundary needs: the
// policy must exist and the build's policy must name it.
func TestStepIAMInstanceProfile_createRoleRefusedNamesTheBoundary(t *testing.T) {
	f := newFakeIAM(t)
	f.CreateRoleCalls.Return(nil, apiErr("AccessDenied"))
	state, ui := newState(t)
	step := newTempProfileStep(f, nil)
	step.boundary = testBoundary
	wantHalt(t, step.Run(t.Context(), state), state, ui,
		`creating temporary IAM role "packer_bakery_b1": with permissions boundary `+testBoundary+" (`temporary_iam_role_permissions_boundary`: the policy must exist")
	wantNoKeys(t, state, keyInstanceProfile)
	step.Cleanup(state)
}
