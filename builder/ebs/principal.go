package ebs

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

type roleReader interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
}

// ownerPrincipal is the value of the bakery:principal tag: the caller's
// aws:PrincipalArn. STS names a role session without its role's path
// (IAM Identity Center's roles live under /aws-reserved/…), which
// aws:PrincipalArn includes, so the role is read to learn it. When it
// cannot be read, the path-less ARN is kept: right for a role without a
// path, and for one with a path the generated policy then refuses the
// first creation, before anything exists (the permission check's dry
// runs say so).
func ownerPrincipal(ctx context.Context, roles roleReader, callerARN string) string {
	arn := bakery.PrincipalARN(callerARN)
	_, name, ok := strings.Cut(arn, ":role/")
	if !ok || roles == nil || arn == callerARN {
		return arn
	}
	out, err := roles.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil || out.Role == nil || !strings.HasSuffix(aws.ToString(out.Role.Arn), "/"+name) {
		return arn
	}
	return aws.ToString(out.Role.Arn)
}

// principalCalls are the calls of ownerPrincipal: reading the holder's own
// role, and no other.
func principalCalls() []awsCall {
	return []awsCall{{action: "iam:GetRole", grants: []Grant{{Sid: "ReadOwnRolePath", OwnPrincipal: true}}}}
}
