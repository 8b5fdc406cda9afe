// Package iampolicy writes the least-privilege IAM policy a bakery-ebs build
// needs, from the build's own plan: every call the planned steps declare,
// granted as they declare it (scoped by rules.go), and nothing else.
package iampolicy

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// Policy is an IAM policy document, ready for `aws iam put-user-policy` or
// an `aws_iam_policy` resource.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one policy statement. Sid says what it is for; the docs
// (docs/iam-policy.md) explain each.
type Statement struct {
	Sid       string     `json:"Sid"`
	Effect    string     `json:"Effect"`
	Action    []string   `json:"Action"`
	Resource  []string   `json:"Resource"`
	Condition Conditions `json:"Condition,omitempty"`
}

// Conditions is operator → key → values, as in a policy document.
type Conditions map[string]map[string][]string

// Scope is where the build runs: the policy names only these regions and
// this account.
type Scope struct {
	Partition string   // "aws" unless the region says otherwise
	Account   string   // 12 digits, or "*" when unknown
	Regions   []string // the build region first
	// Copies are the `ami_regions` other than the build's (Generate sets
	// them from the Config): where AMIs are copied, tagged, shared.
	Copies []string
	// ProfileRoles maps an existing instance profile's name to its role's
	// name (with its path), where known: iam:PassRole then names that role.
	ProfileRoles map[string]string
}

// iamARN is an IAM resource (global: no region) of the account.
func (s Scope) iamARN(resource string) string {
	return fmt.Sprintf("arn:%s:iam::%s:%s", s.Partition, s.Account, resource)
}

// NewScope derives the partition from the build region.
func NewScope(account string, regions ...string) Scope {
	if account == "" {
		account = "*"
	}
	p := "aws"
	if len(regions) > 0 {
		switch r := regions[0]; {
		case strings.HasPrefix(r, "cn-"):
			p = "aws-cn"
		case strings.HasPrefix(r, "us-gov-"):
			p = "aws-us-gov"
		}
	}
	return Scope{Partition: p, Account: account, Regions: regions}
}

// arns returns the ARN of resource (e.g. "instance/*") in every region.
// Images and snapshots have no account in their ARN.
func (s Scope) arns(resource string) []string {
	account := s.Account
	if strings.HasPrefix(resource, "image/") || strings.HasPrefix(resource, "snapshot/") {
		account = ""
	}
	out := make([]string, 0, len(s.Regions))
	for _, r := range s.Regions {
		out = append(out, fmt.Sprintf("arn:%s:ec2:%s:%s:%s", s.Partition, r, account, resource))
	}
	return out
}

// amiRegions is the scope over every region that holds an AMI of the
// build: the build's and the copies'.
func (s Scope) amiRegions() Scope {
	out := s
	out.Regions = append(slices.Clone(s.Regions), s.Copies...)
	return out
}

// ssmARNs are the ARNs of SSM resources in the scope's regions. An AWS-owned
// document (document/AWS-…) has no account in its ARN.
func (s Scope) ssmARNs(resources ...string) []string {
	var out []string
	for _, res := range resources {
		account := s.Account
		if strings.HasPrefix(res, "document/AWS-") {
			account = ""
		}
		for _, r := range s.Regions {
			out = append(out, fmt.Sprintf("arn:%s:ssm:%s:%s:%s", s.Partition, r, account, res))
		}
	}
	return out
}

// ec2ARNs is arns for several resources.
func (s Scope) ec2ARNs(resources ...string) []string {
	var out []string
	for _, r := range resources {
		out = append(out, s.arns(r)...)
	}
	return out
}

// Generate returns the policy cfg's build needs in scope. cfg must have been
// through Prepare (defaults filled in).
func Generate(cfg *ebs.Config, scope Scope) Policy {
	scope.Copies = nil
	for _, r := range cfg.AMIRegions {
		if len(scope.Regions) > 0 && r != scope.Regions[0] && bakery.Known(r) && !slices.Contains(scope.Copies, r) {
			scope.Copies = append(scope.Copies, r)
		}
	}
	var stmts []Statement
	for _, p := range ebs.Permissions(cfg) {
		for _, g := range p.Grants {
			stmts = append(stmts, statements(g, scope)...)
		}
	}
	return Policy{Version: "2012-10-17", Statement: merge(stmts)}
}

// merge joins statements of the same Sid (their resources and conditions
// agree by construction: one Sid, one purpose), keeping first-seen order,
// and sorts and de-duplicates actions and resources.
func merge(stmts []Statement) []Statement {
	var out []Statement
	index := map[string]int{}
	for _, s := range stmts {
		if i, ok := index[s.Sid]; ok {
			out[i].Action = append(out[i].Action, s.Action...)
			out[i].Resource = append(out[i].Resource, s.Resource...)
			out[i].Condition = unionConditions(out[i].Condition, s.Condition)
			continue
		}
		index[s.Sid] = len(out)
		s.Action = slices.Clone(s.Action)
		s.Resource = slices.Clone(s.Resource)
		out = append(out, s)
	}
	for i := range out {
		out[i].Action = sortedUnique(out[i].Action)
		out[i].Resource = sortedUnique(out[i].Resource)
		if out[i].Effect == "" {
			out[i].Effect = "Allow"
		}
	}
	return out
}

// unionConditions is what both a and b allow: a key only one of them
// restricts is not restricted, and the values of a key both restrict are
// joined (every condition here matches any of its values).
func unionConditions(a, b Conditions) Conditions {
	out := Conditions{}
	for op, keys := range a {
		for key, vals := range keys {
			other, ok := b[op][key]
			if !ok {
				continue
			}
			if out[op] == nil {
				out[op] = map[string][]string{}
			}
			out[op][key] = sortedUnique(append(slices.Clone(vals), other...))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Merge joins policies (one per source of a template) into one that allows
// what any of them allows.
func Merge(policies ...Policy) Policy {
	var stmts []Statement
	for _, p := range policies {
		stmts = append(stmts, p.Statement...)
	}
	return Policy{Version: "2012-10-17", Statement: merge(stmts)}
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// Actions lists every action the policy allows, sorted.
func (p Policy) Actions() []string {
	var out []string
	for _, s := range p.Statement {
		out = append(out, s.Action...)
	}
	return sortedUnique(out)
}

// Without returns a copy of p with action removed from every statement
// (statements left with no action are dropped): what the proofs use to show
// that each action is needed.
func (p Policy) Without(action string) Policy {
	out := Policy{Version: p.Version}
	for _, s := range p.Statement {
		s.Action = slices.DeleteFunc(slices.Clone(s.Action), func(a string) bool { return a == action })
		if len(s.Action) > 0 {
			out.Statement = append(out.Statement, s)
		}
	}
	return out
}

// JSON is the policy as indented JSON, as users paste it.
func (p Policy) JSON() string {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		panic(err) // only strings, slices and maps: cannot fail
	}
	return string(b) + "\n"
}
