package ebs

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

type fakeRoles struct {
	arns  map[string]string // role name → ARN
	asked []string
}

func (f *fakeRoles) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	name := aws.ToString(in.RoleName)
	f.asked = append(f.asked, name)
	arn, ok := f.arns[name]
	if !ok {
		return nil, errors.New("AccessDenied: not authorized to perform iam:GetRole")
	}
	return &iam.GetRoleOutput{Role: &types.Role{RoleName: in.RoleName, Arn: aws.String(arn)}}, nil
}

// aws:PrincipalArn names a role with its path, which STS leaves out: an
// IAM Identity Center role's tag must carry /aws-reserved/…/ or the
// generated policy refuses the build's own creations.
func TestOwnerPrincipal(t *testing.T) {
	sso := "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Builder_0a1b"
	roles := &fakeRoles{arns: map[string]string{"AWSReservedSSO_Builder_0a1b": sso}}
	ctx := context.Background()
	if got := ownerPrincipal(ctx, roles, "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Builder_0a1b/alice"); got != sso {
		t.Errorf("SSO role session: %q, want %q", got, sso)
	}
	// Refused to read its role: the path-less ARN, right for a role without a path.
	if got := ownerPrincipal(ctx, roles, "arn:aws:sts::123456789012:assumed-role/ci/run-7"); got != "arn:aws:iam::123456789012:role/ci" {
		t.Errorf("unreadable role: %q", got)
	}
	roles.asked = nil
	if got := ownerPrincipal(ctx, roles, "arn:aws:iam::123456789012:user/deploy/bob"); got != "arn:aws:iam::123456789012:user/deploy/bob" || len(roles.asked) > 0 {
		t.Errorf("user: %q, asked IAM about %v", got, roles.asked)
	}
	// A role of that name elsewhere (another account's ARN) is not taken.
	other := &fakeRoles{arns: map[string]string{"ci": "arn:aws:iam::999999999999:role/x/other"}}
	if got := ownerPrincipal(ctx, other, "arn:aws:sts::123456789012:assumed-role/ci/run-7"); got != "arn:aws:iam::123456789012:role/ci" {
		t.Errorf("mismatched role: %q", got)
	}
}
