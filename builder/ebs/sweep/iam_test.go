package sweep

import (
	"bytes"
	"context"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// fakeIAM is an account's roles and profiles. Like IAM, its lists carry no
// tags, a role in a profile or with a policy cannot be deleted, and a
// profile holding a role cannot either.
type fakeIAM struct {
	t        *testing.T
	roles    map[string]*iamtypes.Role
	policies map[string][]string // role → inline policy names
	profiles map[string]*iamtypes.InstanceProfile
	calls    []string
	fail     map[string]error // call → error
}

func newFakeIAM(t *testing.T) *fakeIAM {
	return &fakeIAM{t: t, roles: map[string]*iamtypes.Role{}, policies: map[string][]string{},
		profiles: map[string]*iamtypes.InstanceProfile{}, fail: map[string]error{}}
}

func iamTags(build string, created time.Time) []iamtypes.Tag {
	if build == "" {
		return nil
	}
	return []iamtypes.Tag{
		{Key: aws.String(bakery.TagBuildID), Value: aws.String(build)},
		{Key: aws.String(bakery.TagCreatedAt), Value: aws.String(created.UTC().Format(time.RFC3339))},
	}
}

// add makes what a bake with a temporary profile makes: role with inline
// policy, profile holding the role.
func (f *fakeIAM) add(name, build string, created time.Time) {
	f.roles[name] = &iamtypes.Role{RoleName: aws.String(name), Arn: aws.String("arn:aws:iam::123456789012:role/" + name),
		Tags: iamTags(build, created), CreateDate: aws.Time(created)}
	f.policies[name] = []string{name}
	f.profiles[name] = &iamtypes.InstanceProfile{InstanceProfileName: aws.String(name), Tags: iamTags(build, created),
		CreateDate: aws.Time(created), Roles: []iamtypes.Role{{RoleName: aws.String(name)}}}
}

func iamErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "fake " + code}
}

func (f *fakeIAM) failed(call string) error {
	f.calls = append(f.calls, call)
	return f.fail[call]
}

func (f *fakeIAM) ListRoles(_ context.Context, in *iam.ListRolesInput, _ ...func(*iam.Options)) (*iam.ListRolesOutput, error) {
	var out []iamtypes.Role
	for _, name := range sortedNames(f.roles) {
		out = append(out, iamtypes.Role{RoleName: aws.String(name)}) // no tags, as IAM
	}
	return &iam.ListRolesOutput{Roles: out}, nil
}

func (f *fakeIAM) ListInstanceProfiles(_ context.Context, in *iam.ListInstanceProfilesInput, _ ...func(*iam.Options)) (*iam.ListInstanceProfilesOutput, error) {
	var out []iamtypes.InstanceProfile
	for _, name := range sortedNames(f.profiles) {
		out = append(out, iamtypes.InstanceProfile{InstanceProfileName: aws.String(name)})
	}
	return &iam.ListInstanceProfilesOutput{InstanceProfiles: out}, nil
}

func (f *fakeIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	r, ok := f.roles[*in.RoleName]
	if !ok {
		return nil, iamErr("NoSuchEntity")
	}
	return &iam.GetRoleOutput{Role: r}, nil
}

func (f *fakeIAM) GetInstanceProfile(_ context.Context, in *iam.GetInstanceProfileInput, _ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	p, ok := f.profiles[*in.InstanceProfileName]
	if !ok {
		return nil, iamErr("NoSuchEntity")
	}
	return &iam.GetInstanceProfileOutput{InstanceProfile: p}, nil
}

func (f *fakeIAM) ListRolePolicies(_ context.Context, in *iam.ListRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	return &iam.ListRolePoliciesOutput{PolicyNames: f.policies[*in.RoleName]}, nil
}

func (f *fakeIAM) DeleteRolePolicy(_ context.Context, in *iam.DeleteRolePolicyInput, _ ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error) {
	if err := f.failed("delete-role-policy " + *in.RoleName); err != nil {
		return nil, err
	}
	delete(f.policies, *in.RoleName)
	return &iam.DeleteRolePolicyOutput{}, nil
}

func (f *fakeIAM) RemoveRoleFromInstanceProfile(_ context.Context, in *iam.RemoveRoleFromInstanceProfileInput, _ ...func(*iam.Options)) (*iam.RemoveRoleFromInstanceProfileOutput, error) {
	if err := f.failed("remove-role " + *in.InstanceProfileName); err != nil {
		return nil, err
	}
	f.profiles[*in.InstanceProfileName].Roles = nil
	return &iam.RemoveRoleFromInstanceProfileOutput{}, nil
}

func (f *fakeIAM) DeleteInstanceProfile(_ context.Context, in *iam.DeleteInstanceProfileInput, _ ...func(*iam.Options)) (*iam.DeleteInstanceProfileOutput, error) {
	if err := f.failed("delete-profile " + *in.InstanceProfileName); err != nil {
		return nil, err
	}
	if len(f.profiles[*in.InstanceProfileName].Roles) > 0 {
		return nil, iamErr("DeleteConflict")
	}
	delete(f.profiles, *in.InstanceProfileName)
	return &iam.DeleteInstanceProfileOutput{}, nil
}

func (f *fakeIAM) DeleteRole(_ context.Context, in *iam.DeleteRoleInput, _ ...func(*iam.Options)) (*iam.DeleteRoleOutput, error) {
	if err := f.failed("delete-role " + *in.RoleName); err != nil {
		return nil, err
	}
	for _, p := range f.profiles {
		for _, r := range p.Roles {
			if *r.RoleName == *in.RoleName {
				return nil, iamErr("DeleteConflict")
			}
		}
	}
	if len(f.policies[*in.RoleName]) > 0 {
		return nil, iamErr("DeleteConflict")
	}
	delete(f.roles, *in.RoleName)
	return &iam.DeleteRoleOutput{}, nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSweepIAM(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	alive := journal.Local(os.Getpid())
	alive.BuildID, alive.Resources = "live", []journal.Resource{
		{Kind: journal.KindIAMRole, ID: "arn:aws:iam::123456789012:role/packer_bakery_live"}}
	// A journal names its entities even without the usual name.
	dead := journal.Local(0)
	dead.BuildID, dead.Resources = "dead", []journal.Resource{
		{Kind: journal.KindIAMRole, ID: "arn:aws:iam::123456789012:role/custom_dead"},
		{Kind: journal.KindIAMInstanceProfile, ID: "arn:aws:iam::123456789012:instance-profile/custom_dead"}}
	deadCalls := []string{"remove-role custom_dead", "delete-profile custom_dead", "delete-role-policy custom_dead", "delete-role custom_dead"}
	oldCalls := []string{"remove-role packer_bakery_old", "delete-profile packer_bakery_old", "delete-role-policy packer_bakery_old", "delete-role packer_bakery_old"}
	tests := []struct {
		name      string
		opts      Options
		wantCalls []string
		wantOut   []string
		wantLeft  []string // roles left
	}{
		{
			name:      "dead and old builds go; live, young and untagged stay",
			opts:      Options{OlderThan: time.Hour},
			wantCalls: append(append([]string{}, deadCalls...), oldCalls...),
			wantOut: []string{"IAM build live: still running", "IAM build young: no journal here and only 10m0s old",
				"IAM build dead: dead", "iam-instance-profile custom_dead", "removed iam-role packer_bakery_old"},
			wantLeft: []string{"packer_bakery_live", "packer_bakery_untagged", "packer_bakery_young", "someone_elses"},
		},
		{
			name:     "dry run removes nothing",
			opts:     Options{OlderThan: time.Hour, DryRun: true},
			wantOut:  []string{"IAM build dead: dead", "would be removed (dry run)", "iam-role packer_bakery_old"},
			wantLeft: []string{"custom_dead", "packer_bakery_live", "packer_bakery_old", "packer_bakery_untagged", "packer_bakery_young", "someone_elses"},
		},
		{
			name:      "one build only",
			opts:      Options{OlderThan: time.Hour, BuildID: "old"},
			wantCalls: oldCalls,
			wantLeft:  []string{"custom_dead", "packer_bakery_live", "packer_bakery_untagged", "packer_bakery_young", "someone_elses"},
		},
		{
			name:     "a live build is never swept, whatever its age",
			opts:     Options{OlderThan: 0, BuildID: "live"},
			wantOut:  []string{"still running"},
			wantLeft: []string{"custom_dead", "packer_bakery_live", "packer_bakery_old", "packer_bakery_untagged", "packer_bakery_young", "someone_elses"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(journal.EnvDir, t.TempDir())
			f := newFakeIAM(t)
			f.add("custom_dead", "dead", now.Add(-5*time.Minute))
			f.add("packer_bakery_live", "live", now.Add(-48*time.Hour))
			f.add("packer_bakery_old", "old", now.Add(-2*time.Hour))
			f.add("packer_bakery_young", "young", now.Add(-10*time.Minute))
			f.add("packer_bakery_untagged", "", now.Add(-48*time.Hour))
			f.add("someone_elses", "other", now.Add(-48*time.Hour)) // tagged, but neither our name nor journaled
			tc.opts.Now = func() time.Time { return now }
			var out bytes.Buffer
			if err := RunIAM(t.Context(), &out, f, []journal.Entry{alive, dead}, tc.opts); err != nil {
				t.Fatal(err)
			}
			if strings.Join(f.calls, ", ") != strings.Join(tc.wantCalls, ", ") {
				t.Errorf("calls:\n  %v\nwant\n  %v", f.calls, tc.wantCalls)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if got := sortedNames(f.roles); strings.Join(got, ",") != strings.Join(tc.wantLeft, ",") {
				t.Errorf("roles left %v, want %v", got, tc.wantLeft)
			}
			for _, name := range tc.wantLeft {
				if _, ok := f.profiles[name]; !ok {
					t.Errorf("profile %s was removed but its role stays", name)
				}
			}
		})
	}
}

func TestSweepIAM_failureIsReportedAndJournalKept(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(journal.EnvDir, dir)
	j, err := journal.Open("dead", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(journal.KindIAMRole, "arn:aws:iam::123456789012:role/packer_bakery_dead", ""); err != nil {
		t.Fatal(err)
	}
	entries, err := journal.ReadAll(nil)
	if err != nil || len(entries) != 1 {
		t.Fatalf("journal: %v %v", entries, err)
	}
	entries[0].PID = 0 // its build is dead

	f := newFakeIAM(t)
	f.add("packer_bakery_dead", "dead", time.Now())
	f.fail["delete-profile packer_bakery_dead"] = iamErr("AccessDenied")
	var out bytes.Buffer
	err = RunIAM(t.Context(), &out, f, entries, Options{OlderThan: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "deleting instance profile packer_bakery_dead") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("error %v, want the failed deletion named", err)
	}
	if left, _ := journal.ReadAll(nil); len(left) != 1 {
		t.Errorf("the journal of a build not fully swept was removed")
	}

	// The next sweep finishes the job and forgets the build.
	delete(f.fail, "delete-profile packer_bakery_dead")
	out.Reset()
	if err := RunIAM(t.Context(), &out, f, entries, Options{OlderThan: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if len(f.roles) != 0 || len(f.profiles) != 0 {
		t.Errorf("left: roles %v, profiles %v", sortedNames(f.roles), sortedNames(f.profiles))
	}
	if left, _ := journal.ReadAll(nil); len(left) != 0 {
		t.Errorf("the journal of a swept build stays: %v", left)
	}
}
