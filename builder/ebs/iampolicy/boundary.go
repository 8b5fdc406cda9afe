package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

const (
	documentOption = "temporary_iam_instance_profile_policy_document"
	boundaryOption = "temporary_iam_role_permissions_boundary"
)

// howToCreateBoundary is what a user who has no boundary yet runs.
const howToCreateBoundary = "create it with\n" +
	"  packer-plugin-bakery iam-policy -boundary -o boundary.json TEMPLATE\n" +
	"  aws iam create-policy --policy-name packer-bakery-boundary --policy-document file://boundary.json\n" +
	"and set `" + boundaryOption + "` to the ARN it prints (docs/iam-policy.md)"

// CheckBoundaries refuses sources whose policy would be an escalation path:
// a temporary instance profile lets the holder create and fill
// packer_bakery_* roles and pass them to EC2, so without a permissions
// boundary the holder could make a role that may do anything and launch an
// instance with it. With a boundary the policy allows CreateRole and
// PutRolePolicy only with it (iam:PermissionsBoundary); one whose value is
// not known here (a variable without a value) cannot be named, and allowing
// any boundary would allow any managed policy of the account as one.
func CheckBoundaries(sources []Source) []error {
	var errs []error
	for _, s := range sources {
		if s.Config.TemporaryIamInstanceProfilePolicyDocument == nil {
			continue
		}
		switch b := s.Config.TemporaryIamRolePermissionsBoundary; {
		case b == "":
			errs = append(errs, fmt.Errorf("source.bakery-ebs.%s makes a temporary instance profile (`%s`) but sets no `%s`: the policy would let its holder create a role that may do anything and launch an instance with it; %s",
				s.Name, documentOption, boundaryOption, howToCreateBoundary))
		case !bakery.Known(b):
			errs = append(errs, fmt.Errorf("source.bakery-ebs.%s: no value here for %s; the policy allows creating roles only with that boundary and must name it (allowing any would allow every managed policy of the account as one): give it with -var or -var-file",
				s.Name, boundaryOption))
		}
	}
	return errs
}

// BoundaryDocument is the permissions boundary of the temporary role of
// sources: the template's `temporary_iam_instance_profile_policy_document`,
// as it is. The role's only policy is that document, so a boundary equal
// to it leaves the instance all it allows; a role made by anyone holding
// the build's policy (which may create roles only with this boundary) can
// never do more, whatever policy they put on it. Nothing is added: the
// instance needs nothing the document does not give it. Nothing is taken
// out: its Deny statements only narrow, in a boundary as in the role.
// Sources that name the same boundary share it: their documents are
// joined; sources that name different ones need -only. A document with a
// value unknown here cannot be written.
func BoundaryDocument(sources []Source) (string, error) {
	var with []Source
	for _, s := range sources {
		if s.Config.TemporaryIamInstanceProfilePolicyDocument != nil {
			with = append(with, s)
		}
	}
	if len(with) == 0 {
		return "", fmt.Errorf("no bakery-ebs source sets `%s`: a permissions boundary is only needed for the temporary role it makes", documentOption)
	}
	var arns []string
	for _, s := range with {
		if b := s.Config.TemporaryIamRolePermissionsBoundary; b != "" && bakery.Known(b) && !slices.Contains(arns, b) {
			arns = append(arns, b)
		}
	}
	if len(arns) > 1 {
		return "", fmt.Errorf("the sources name %d boundaries (%s): write each with -only NAME", len(arns), strings.Join(arns, ", "))
	}
	var errs []error
	joined := ebs.PolicyDocument{}
	for _, s := range with {
		doc := s.Config.TemporaryIamInstanceProfilePolicyDocument
		var unknown []string
		for _, o := range UnknownOptions(s) {
			if strings.HasPrefix(o, documentOption) {
				unknown = append(unknown, o)
			}
		}
		if len(unknown) > 0 {
			errs = append(errs, fmt.Errorf("source.bakery-ebs.%s: no value here for %s: the boundary must say exactly what the role may do: give them with -var or -var-file",
				s.Name, strings.Join(unknown, ", ")))
			continue
		}
		if joined.Version == "" {
			joined.Version = doc.Version
		} else if doc.Version != joined.Version {
			errs = append(errs, fmt.Errorf("source.bakery-ebs.%s: its document's Version %s differs from another source's %s: write each with -only NAME", s.Name, doc.Version, joined.Version))
			continue
		}
		for _, st := range doc.Statement {
			if !slices.ContainsFunc(joined.Statement, func(o ebs.PolicyStatement) bool {
				return o.Effect == st.Effect && slices.Equal(o.Action, st.Action) && slices.Equal(o.Resource, st.Resource)
			}) {
				joined.Statement = append(joined.Statement, st)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	compact, err := joined.JSON()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(compact), "", "  "); err != nil {
		return "", err
	}
	return out.String() + "\n", nil
}
