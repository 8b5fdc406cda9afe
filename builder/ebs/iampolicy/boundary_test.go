package iampolicy

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testBoundary = "arn:aws:iam::111122223333:policy/packer-bakery-boundary"

// roleEscalations are the IAM actions that make a role, or give one more
// permissions than it has: with any of them unbounded, the holder of the
// build's policy could make a role that may do anything and launch an
// instance with it (iam:PassRole on packer_bakery_* roles).
var roleEscalations = []string{"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
	"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy"}

// neverGranted change a role's permissions, or the boundary's own document:
// no condition makes them safe, so the policy has none of them.
var neverGranted = []string{"iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary", "iam:CreatePolicyVersion",
	"iam:SetDefaultPolicyVersion", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:CreatePolicy", "iam:DeletePolicyVersion"}

// grants is whether the policy action pattern (wildcards allowed) covers action.
func grants(pattern, action string) bool {
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	return ok
}

// escalations lists how p lets its holder make or fill a role beyond
// boundary: a forbidden action granted, or a role-making one granted
// without iam:PermissionsBoundary equal to boundary.
func escalations(p Policy, boundary string) []string {
	var out []string
	for _, s := range p.Statement {
		for _, a := range s.Action {
			for _, f := range neverGranted {
				if grants(a, f) {
					out = append(out, s.Sid+" grants "+f)
				}
			}
			for _, r := range roleEscalations {
				if grants(a, r) && !slices.Equal(s.Condition["StringEquals"]["iam:PermissionsBoundary"], []string{boundary}) {
					out = append(out, s.Sid+" grants "+r+" without the boundary "+boundary)
				}
			}
		}
	}
	return out
}

// The holder of the generated policy of a template with a temporary
// instance profile can create and fill packer_bakery_* roles only with the
// template's permissions boundary, and can neither remove nor change it:
// no role they make may do more than the boundary.
func TestTemporaryProfilePolicyCannotMakeARoleBeyondItsBoundary(t *testing.T) {
	cfg := prepared(t, map[string]interface{}{"temporary_iam_instance_profile_policy_document": tempProfileDocument,
		"temporary_iam_role_permissions_boundary": testBoundary})
	p := Generate(cfg, NewScope("111122223333", "eu-west-1"))
	if e := escalations(p, testBoundary); len(e) > 0 {
		t.Errorf("the policy lets its holder make a role beyond the boundary:\n  %s\n%s", strings.Join(e, "\n  "), p.JSON())
	}
	for _, want := range []string{"iam:CreateRole", "iam:PutRolePolicy"} {
		if !slices.Contains(p.Actions(), want) {
			t.Errorf("the policy does not grant %s: the build could not make its role", want)
		}
	}
	// The control: the same check finds the escalation in a policy that
	// lets CreateRole go without the boundary.
	loose := p
	loose.Statement = append(slices.Clone(p.Statement), Statement{Sid: "Loose", Action: []string{"iam:Create*"}, Resource: []string{"*"}})
	if len(escalations(loose, testBoundary)) == 0 {
		t.Error("the check does not see iam:Create* without a boundary")
	}
}

// Through the subcommand, as a user runs it: a temporary profile without a
// boundary, or with one whose value is not known, gets no policy (it would
// be an escalation path) but how to make the boundary; with it, the policy
// holds the boundary on every role-making call.
func TestMainRefusesATemporaryProfileWithoutItsBoundary(t *testing.T) {
	code, out, stderr := run(t, "-account", "111122223333", "-only", "unbounded", "testdata/profile")
	if code != 1 || out != "" {
		t.Errorf("without a boundary: exit %d, %d bytes of policy; want exit 1 and no policy", code, len(out))
	}
	for _, want := range []string{"source.bakery-ebs.unbounded makes a temporary instance profile", "sets no `temporary_iam_role_permissions_boundary`",
		"packer-plugin-bakery iam-policy -boundary -o boundary.json TEMPLATE", "aws iam create-policy --policy-name packer-bakery-boundary --policy-document file://boundary.json"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	code, out, stderr = run(t, "-account", "111122223333", "-only", "bounded", "testdata/profile")
	if code != 1 || out != "" || !strings.Contains(stderr, "source.bakery-ebs.bounded: no value here for temporary_iam_role_permissions_boundary;") {
		t.Errorf("with the boundary unknown: exit %d, %d bytes of policy, stderr:\n%s\nwant exit 1, no policy, the option named", code, len(out), stderr)
	}

	code, out, stderr = run(t, "-account", "111122223333", "-only", "bounded", "-var", "boundary="+testBoundary, "testdata/profile")
	if code != 0 {
		t.Fatalf("with the boundary: exit %d: %s", code, stderr)
	}
	var p Policy
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("not a policy: %v\n%s", err, out)
	}
	if e := escalations(p, testBoundary); len(e) > 0 {
		t.Errorf("the policy lets its holder make a role beyond the boundary:\n  %s\n%s", strings.Join(e, "\n  "), out)
	}
}

// -boundary writes the template's policy document, which the role gets
// inline: the most the role may do. It needs no boundary ARN yet (it is
// what the user creates first).
func TestMainWritesTheBoundary(t *testing.T) {
	file := filepath.Join(t.TempDir(), "boundary.json")
	code, out, stderr := run(t, "-boundary", "-only", "bounded", "-var", "bucket=seeds", "-o", file, "testdata/profile")
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, out, stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	_ = json.Unmarshal([]byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::seeds/*"]},
		{"Effect":"Deny","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::seeds/secret/*"]}]}`), &want)
	if !jsonEqual(got, want) {
		t.Errorf("boundary\n%s\nwant the template's document", data)
	}
	if !strings.Contains(stderr, "aws iam create-policy --policy-name packer-bakery-boundary --policy-document file://"+file) {
		t.Errorf("stderr does not say how to create it:\n%s", stderr)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestBoundaryErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-boundary", "testdata/template"}, "no bakery-ebs source sets `temporary_iam_instance_profile_policy_document`"},
		{[]string{"-boundary", "-only", "open", "testdata/profile"}, "source.bakery-ebs.open: no value here for temporary_iam_instance_profile_policy_document."},
		{[]string{"-boundary", "-var", "boundary=" + testBoundary, "-var", "prefix=p", "testdata/profile"}, ""},
		{[]string{"-boundary", "-var", "boundary=" + testBoundary, "-var", "prefix=p", "-only", "open", "testdata/profile"}, ""},
	} {
		code, out, stderr := run(t, tc.args...)
		if tc.want == "" {
			if code != 0 || !json.Valid([]byte(out)) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want a document", tc.args, code, out, stderr)
			}
			continue
		}
		if code != 1 || out != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, out, stderr, tc.want)
		}
	}
}
