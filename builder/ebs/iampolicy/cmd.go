package iampolicy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

const usage = `Usage: packer-plugin-bakery iam-policy [options] TEMPLATE

Writes the least-privilege IAM policy (JSON) that the bakery-ebs sources of
TEMPLATE (a .pkr.hcl file, or a folder of them) and its bakery-ssm-parameter
and bakery-retire post-processors need, for their options: attach it to the
user or role the builds run as. Variables take their
values as in packer build (defaults, PKR_VAR_*, *.auto.pkrvars.hcl,
-var-file, -var); what only a running build knows stays a wildcard.
Resources are limited to the build's region(s) and to the account given by
-account (default: the account of the current AWS credentials, if any).
docs/iam-policy.md explains every statement.

A source with temporary_iam_instance_profile_policy_document must set
temporary_iam_role_permissions_boundary: the policy lets the build create
roles only with that boundary. -boundary writes the boundary's policy
document instead (create it with aws iam create-policy).

Options:
`

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Main runs the iam-policy subcommand and returns its exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("iam-policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var vars, varFiles stringList
	fs.Var(&vars, "var", "a template variable, name=value (repeatable)")
	fs.Var(&varFiles, "var-file", "a .pkrvars.hcl file (repeatable)")
	account := fs.String("account", "", "the 12-digit AWS account the builds run in (default: asked of STS with the current credentials; `*` if none)")
	only := fs.String("only", "", "only this source (its name, as in source.bakery-ebs.NAME)")
	out := fs.String("o", "", "write the policy to this file instead of standard output")
	boundary := fs.Bool("boundary", false, "write the permissions boundary of the temporary role (temporary_iam_instance_profile_policy_document) instead of the build's policy")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	opts := TemplateOptions{Vars: map[string]string{}, VarFiles: varFiles, Environ: os.Environ()}
	for _, kv := range vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintf(stderr, "iam-policy: -var %q: write name=value\n", kv)
			return 2
		}
		opts.Vars[k] = v
	}
	sources, err := ReadTemplate(fs.Arg(0), opts)
	if err != nil {
		fmt.Fprintln(stderr, "iam-policy:", err)
		return 1
	}
	if *only != "" {
		sources = slices.DeleteFunc(sources, func(s Source) bool { return s.Name != *only })
		if len(sources) == 0 {
			fmt.Fprintf(stderr, "iam-policy: no source.bakery-ebs.%s in %s\n", *only, fs.Arg(0))
			return 1
		}
	}
	if *boundary {
		doc, err := BoundaryDocument(sources)
		if err != nil {
			fmt.Fprintln(stderr, "iam-policy:", err)
			return 1
		}
		if err := write(*out, doc, stdout); err != nil {
			fmt.Fprintln(stderr, "iam-policy:", err)
			return 1
		}
		file, save := *out, ""
		if file == "" {
			file, save = "boundary.json", "save this document as boundary.json and "
		}
		fmt.Fprintf(stderr, "iam-policy: %screate the boundary with\n  aws iam create-policy --policy-name packer-bakery-boundary --policy-document file://%s\nthen set `temporary_iam_role_permissions_boundary` to the ARN it prints\n", save, file)
		return 0
	}
	if errs := CheckBoundaries(sources); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(stderr, "iam-policy:", err)
		}
		return 1
	}
	pps, err := ReadPostProcessors(fs.Arg(0), opts)
	if err != nil {
		fmt.Fprintln(stderr, "iam-policy:", err)
		return 1
	}
	for _, s := range sources {
		if u := UnknownOptions(s); len(u) > 0 {
			fmt.Fprintf(stderr, "iam-policy: source.bakery-ebs.%s: no value here for %s; where these options scope the policy, it allows any value: give them with -var or -var-file to narrow it\n",
				s.Name, strings.Join(u, ", "))
		}
		if s.Config.SkipCredsValidation {
			fmt.Fprintf(stderr, "iam-policy: source.bakery-ebs.%s: skip_credential_validation is set, so the build does not learn its principal and cannot tag what it creates with it: this policy, which creates only with bakery:principal = the holder's ARN, would refuse the build's creates; remove skip_credential_validation\n", s.Name)
		}
	}
	if *account == "" {
		*account = callerAccount(stderr)
	}
	fallback := []string{os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")}
	policy := Merge(ForSources(sources, *account, profileRoles(sources, stderr), fallback...),
		PostProcessorPolicy(pps, sources, *account, fallback...))
	if err := write(*out, policy.JSON(), stdout); err != nil {
		fmt.Fprintln(stderr, "iam-policy:", err)
		return 1
	}
	return 0
}

// write puts text in the file path, or on stdout without one.
func write(path, text string, stdout io.Writer) error {
	if path == "" {
		_, err := fmt.Fprint(stdout, text)
		return err
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// ForSources is the one policy that lets every source build: each source's
// policy in the regions of all of them. A source's region is its `region`,
// else the environment's (fallbacks, in order); unknown, every region.
func ForSources(sources []Source, account string, roles map[string]string, fallbackRegions ...string) Policy {
	var regions []string
	for _, s := range sources {
		r := s.Config.RawRegion
		for _, f := range fallbackRegions {
			if r == "" || !bakery.Known(r) {
				r = f
			}
		}
		if r == "" || !bakery.Known(r) {
			r = "*"
		}
		if !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	if slices.Contains(regions, "*") {
		regions = []string{"*"}
	}
	var policies []Policy
	for _, s := range sources {
		scope := NewScope(account, regions...)
		scope.ProfileRoles = roles
		policies = append(policies, Generate(s.Config, scope))
	}
	return Merge(policies...)
}

// callerAccount asks STS whose credentials these are; any failure leaves
// the account a wildcard, and says so.
func callerAccount(stderr io.Writer) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := bakery.NewSession(ctx, &bakery.AccessConfig{})
	if err == nil {
		var out *sts.GetCallerIdentityOutput
		if out, err = sess.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil && aws.ToString(out.Account) != "" {
			return aws.ToString(out.Account)
		}
		if err == nil {
			err = errors.New("STS gave no account")
		}
	}
	fmt.Fprintf(stderr, "iam-policy: the account is not known (%v); resources name any account: give -account to narrow them\n", err)
	return "*"
}

// profileRoles reads, with the current credentials, the role of each
// `iam_instance_profile`, so that iam:PassRole can name it; one it cannot
// read stays "any role", and it says so.
func profileRoles(sources []Source, stderr io.Writer) map[string]string {
	roles := map[string]string{}
	var names []string
	for _, s := range sources {
		if n := s.Config.IamInstanceProfile; n != "" && bakery.Known(n) && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return roles
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, sessErr := bakery.NewSession(ctx, &bakery.AccessConfig{})
	for _, n := range names {
		err := sessErr
		var out *iam.GetInstanceProfileOutput
		if err == nil {
			out, err = sess.IAM().GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(n)})
		}
		if err == nil && len(out.InstanceProfile.Roles) != 1 {
			err = fmt.Errorf("it holds %d roles", len(out.InstanceProfile.Roles))
		}
		if err != nil {
			fmt.Fprintf(stderr, "iam-policy: the role of instance profile %s is not known (%v); iam:PassRole names any role, passed to EC2 only\n", n, err)
			continue
		}
		arn := aws.ToString(out.InstanceProfile.Roles[0].Arn)
		if _, role, ok := strings.Cut(arn, ":role/"); ok {
			roles[n] = role
		}
	}
	return roles
}
