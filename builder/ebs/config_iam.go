//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type IAMConfig,PolicyDocument,PolicyStatement

package ebs

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// IAMConfig gives the build instance an IAM instance profile: an existing
// one, or a temporary one made for the build from a policy document.
type IAMConfig struct {
	// The name of an existing IAM instance profile for the build instance,
	// as amazon-ebs's option. It is checked with iam:GetInstanceProfile
	// before anything is launched, so a misspelt name fails the build at
	// once instead of at RunInstances. Give the name, not the ARN. While EC2
	// answers that it does not know the profile (for a few seconds after
	// it was made), the launch is retried for up to 2 minutes.
	IamInstanceProfile string `mapstructure:"iam_instance_profile" required:"false"`
	// Skip the iam:GetInstanceProfile check of `iam_instance_profile`, for
	// credentials that may pass the profile to EC2 but not read it. As
	// amazon-ebs's option.
	SkipProfileValidation bool `mapstructure:"skip_profile_validation" required:"false"`
	// A policy for a temporary instance profile that exists only for this
	// build, written as amazon-ebs's block:
	//
	// ```hcl
	// temporary_iam_instance_profile_policy_document {
	//   Version = "2012-10-17"
	//   Statement {
	//     Effect   = "Allow"
	//     Action   = ["s3:GetObject"]
	//     Resource = ["arn:aws:s3:::my-bucket/*"]
	//   }
	// }
	// ```
	//
	// The build creates a role that EC2 may assume, puts this document on
	// it as an inline policy, and makes an instance profile holding the
	// role, all named `packer_bakery_<build id>` and tagged at creation with
	// `run_tags` and the build's `bakery:` tags (a character IAM does not
	// take in tags becomes `_`). It waits until IAM shows
	// the profile and retries the launch while EC2 does not know it yet,
	// and removes all of it when the build ends, also after a failure or
	// Ctrl-C; `packer-plugin-bakery sweep` removes what a killed build
	// left. Unlike amazon-ebs, the document is checked when the template is
	// validated (Effect, Action, Resource). Cannot be combined with
	// `iam_instance_profile`.
	TemporaryIamInstanceProfilePolicyDocument *PolicyDocument `mapstructure:"temporary_iam_instance_profile_policy_document" required:"false"`
	// The ARN of a managed policy set as the permissions boundary of the
	// temporary role (`temporary_iam_instance_profile_policy_document`),
	// e.g. `arn:aws:iam::123456789012:policy/packer-bakery-boundary`. Not
	// an amazon-ebs option (its issue #229 asks for one). The role can then
	// never do more than that policy allows, whatever is put on it, and
	// `packer-plugin-bakery iam-policy` lets the build's credentials create
	// and fill `packer_bakery_*` roles only with this boundary: without it,
	// whoever holds those credentials could make an administrator role and
	// launch an instance with it. `iam-policy` refuses a template with a
	// temporary profile and no boundary, and `iam-policy -boundary` writes
	// the boundary's document (the template's policy document); see
	// docs/iam-policy.md. Without this option the role has no boundary, as
	// with amazon-ebs.
	TemporaryIamRolePermissionsBoundary string `mapstructure:"temporary_iam_role_permissions_boundary" required:"false"`
}

// PolicyDocument is an IAM policy, in the shape of amazon-ebs's
// `temporary_iam_instance_profile_policy_document`.
type PolicyDocument struct {
	// The policy language version: `2012-10-17` (the default) or
	// `2008-10-17`.
	Version string `mapstructure:"Version" required:"false"`
	// One block per statement; at least one.
	Statement []PolicyStatement `mapstructure:"Statement" required:"true"`
}

// PolicyStatement is one statement of a PolicyDocument.
type PolicyStatement struct {
	// `Allow` or `Deny`.
	Effect string `mapstructure:"Effect" required:"true"`
	// The actions, e.g. `["s3:GetObject", "ssm:GetParameter"]`; at least one.
	Action []string `mapstructure:"Action" required:"true"`
	// The resources the actions apply to: ARNs, or `"*"`; at least one.
	Resource []string `mapstructure:"Resource" required:"true"`
}

var (
	// IAM's pattern for instance profile and role names.
	iamNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	// service:Action, wildcards allowed, or * alone.
	iamActionPattern = regexp.MustCompile(`^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$`)
	// A managed policy's ARN: partition, an account (or "aws" for an AWS
	// managed policy), an optional path, a policy name.
	iamPolicyARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/([\w+=,.@/-]+/)?[\w+=,.@-]{1,128}$`)
)

func (c *IAMConfig) prepare() []error {
	var errs []error
	name := c.IamInstanceProfile
	switch {
	case name == "" || !known(name):
	case strings.HasPrefix(name, "arn:"):
		short := name[strings.LastIndex(name, "/")+1:]
		errs = append(errs, fmt.Errorf("`iam_instance_profile` %q is an ARN: give the instance profile's name (%q)", name, short))
	case !iamNamePattern.MatchString(name):
		errs = append(errs, fmt.Errorf("`iam_instance_profile` %q is not an instance profile name: use up to 128 letters, digits and + = , . @ _ -", name))
	}
	if c.SkipProfileValidation && name == "" {
		errs = append(errs, errors.New("`skip_profile_validation` only applies with `iam_instance_profile`: remove it"))
	}
	doc := c.TemporaryIamInstanceProfilePolicyDocument
	if boundary := c.TemporaryIamRolePermissionsBoundary; boundary != "" {
		switch {
		case doc == nil:
			errs = append(errs, errors.New("`temporary_iam_role_permissions_boundary` only applies with `temporary_iam_instance_profile_policy_document` (the role the build makes): remove it; an existing `iam_instance_profile`'s role gets its boundary where it was made"))
		case known(boundary) && !iamPolicyARNPattern.MatchString(boundary):
			errs = append(errs, fmt.Errorf("`temporary_iam_role_permissions_boundary` %q is not the ARN of a managed policy: write arn:aws:iam::ACCOUNT:policy/NAME (`packer-plugin-bakery iam-policy -boundary` writes the policy to create)", boundary))
		}
	}
	if doc == nil {
		return errs
	}
	if name != "" {
		errs = append(errs, errors.New("`iam_instance_profile` and `temporary_iam_instance_profile_policy_document` both set: keep the existing profile, or the temporary one"))
	}
	return append(errs, doc.prepare("temporary_iam_instance_profile_policy_document")...)
}

func (d *PolicyDocument) prepare(option string) []error {
	var errs []error
	switch d.Version {
	case "":
		d.Version = "2012-10-17"
	case "2012-10-17", "2008-10-17":
	default:
		if known(d.Version) {
			errs = append(errs, fmt.Errorf("`%s`: `Version` %q is not an IAM policy version: use \"2012-10-17\"", option, d.Version))
		}
	}
	if len(d.Statement) == 0 {
		errs = append(errs, fmt.Errorf("`%s` has no `Statement` block: add one with `Effect`, `Action` and `Resource`", option))
	}
	for i, s := range d.Statement {
		where := fmt.Sprintf("`%s` Statement %d", option, i+1)
		switch s.Effect {
		case "Allow", "Deny":
		case "":
			errs = append(errs, fmt.Errorf("%s: `Effect` is required: \"Allow\" or \"Deny\"", where))
		default:
			if known(s.Effect) {
				errs = append(errs, fmt.Errorf("%s: `Effect` %q: use \"Allow\" or \"Deny\" (capitalised)", where, s.Effect))
			}
		}
		if len(s.Action) == 0 {
			errs = append(errs, fmt.Errorf("%s: `Action` needs at least one action, e.g. [\"s3:GetObject\"]", where))
		}
		for _, a := range s.Action {
			if known(a) && !iamActionPattern.MatchString(a) {
				errs = append(errs, fmt.Errorf("%s: `Action` %q is not service:Action (e.g. \"s3:GetObject\") or \"*\"", where, a))
			}
		}
		if len(s.Resource) == 0 {
			errs = append(errs, fmt.Errorf("%s: `Resource` is required: the ARNs the actions apply to, or [\"*\"]", where))
		}
		for _, r := range s.Resource {
			if known(r) && r != "*" && !strings.HasPrefix(r, "arn:") {
				errs = append(errs, fmt.Errorf("%s: `Resource` %q is not an ARN (arn:aws:…) or \"*\"", where, r))
			}
		}
	}
	return errs
}

// JSON is the document as IAM takes it.
func (d *PolicyDocument) JSON() (string, error) {
	type statement struct {
		Effect   string   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource []string `json:"Resource"`
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{Version: d.Version}
	if doc.Version == "" {
		doc.Version = "2012-10-17"
	}
	for _, s := range d.Statement {
		doc.Statement = append(doc.Statement, statement(s))
	}
	b, err := json.Marshal(doc)
	return string(b), err
}
