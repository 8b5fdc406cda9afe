package iampolicy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// The actions, and when the build needs them, come from the build's own
// plan: each step declares its calls and how they are granted
// (ebs.Permissions). What is here is scoping: how a grant becomes a
// statement with the account's ARNs, regions and condition keys.

// NoPermissionNeeded are calls the build makes that IAM always allows.
var NoPermissionNeeded = []string{"sts:GetCallerIdentity"}

// Condition keys of the build's tags. Creation requires the build id in the
// request and the holder's own ARN as bakery:principal; changing or
// deleting requires both on the resource. The holder can only have written
// them at creation (noBuildTags), and another principal that tags its own
// resource so would have to name this holder on purpose: the policy cannot
// touch what another principal made, even one that can tag.
var (
	requestTagged = Conditions{
		"Null":         {"aws:RequestTag/" + bakery.TagBuildID: {"false"}},
		"StringEquals": {"aws:RequestTag/" + bakery.TagPrincipal: {principalVariable}},
	}
	resourceTagged = Conditions{
		"Null":         {"aws:ResourceTag/" + bakery.TagBuildID: {"false"}},
		"StringEquals": {"aws:ResourceTag/" + bakery.TagPrincipal: {principalVariable}},
	}
	// requestOwned and resourceOwned bind the build's product (the AMI, its
	// snapshots and copies) to the holder: made only in its name, removed
	// only when made in its name. The product carries no build id: it is
	// no temporary, and the sweep finds leftovers by that tag.
	requestOwned  = Conditions{"StringEquals": {"aws:RequestTag/" + bakery.TagPrincipal: {principalVariable}}}
	resourceOwned = Conditions{"StringEquals": {"aws:ResourceTag/" + bakery.TagPrincipal: {principalVariable}}}
	// noBuildTags keeps a CreateTags made outside a create call from writing
	// any bakery:* key: with it, the build's tags can only have been set by
	// the call that created the resource, so the holder cannot tag someone
	// else's resource and then stop, terminate or delete it.
	noBuildTags = Conditions{"ForAllValues:StringNotLike": {"aws:TagKeys": {"bakery:*"}}}
)

// principalVariable is the holder's ARN, as IAM fills it in: a role's (not
// its session's) or a user's.
const principalVariable = "${aws:PrincipalArn}"

// regionOnly limits calls to the build's regions; with the region unknown
// (a variable given no value), to none in particular.
func regionOnly(s Scope) Conditions {
	if slices.Contains(s.Regions, "*") {
		return nil
	}
	return Conditions{"StringEquals": {"aws:RequestedRegion": s.amiRegions().Regions}}
}

// statements writes one grant in scope.
func statements(g ebs.Grant, s Scope) []Statement {
	where := s
	if g.AMIRegions {
		where = s.amiRegions()
	}
	if len(g.KMSKeys) > 0 {
		return kmsStatements(g.Sid, g.Action, g.KMSKeys, where)
	}
	st := Statement{Sid: g.Sid, Action: []string{g.Action}, Resource: where.ec2ARNs(g.EC2...)}
	for _, r := range g.IAM {
		st.Resource = append(st.Resource, s.iamARN(r))
	}
	if g.OwnPrincipal {
		st.Resource = append(st.Resource, principalVariable)
	}
	st.Resource = append(st.Resource, where.ssmARNs(g.SSM...)...)
	if g.AccountKMSKeys {
		st.Resource = append(st.Resource, kmsKeyARNs(where, "*")...)
	}
	if g.ProfileRole != "" {
		// The role is the profile's, known only by reading it: the
		// subcommand does when it can (Scope.ProfileRoles).
		role := "role/*"
		if r, ok := s.ProfileRoles[g.ProfileRole]; ok && r != "" {
			role = "role/" + r
		}
		st.Resource = append(st.Resource, s.iamARN(role))
	}
	c := Conditions{}
	if g.AnyResource {
		st.Resource = []string{"*"}
		if g.InBuildRegions {
			c = regionOnly(s)
		}
	}
	add := func(from Conditions) {
		for op, keys := range from {
			if c == nil {
				c = Conditions{}
			}
			if c[op] == nil {
				c[op] = map[string][]string{}
			}
			for k, v := range keys {
				c[op][k] = v
			}
		}
	}
	switch g.Tagged {
	case ebs.RequestTagged:
		add(requestTagged)
	case ebs.ResourceTagged:
		add(resourceTagged)
	case ebs.RequestOwned:
		add(requestOwned)
	case ebs.ResourceOwned:
		add(resourceOwned)
	}
	if len(g.CreateActions) > 0 {
		add(Conditions{"StringEquals": {"ec2:CreateAction": g.CreateActions}})
	}
	if len(g.TagKeys) > 0 {
		add(Conditions{"ForAllValues:StringEquals": {"aws:TagKeys": g.TagKeys}})
	}
	if g.Action == "ec2:CreateTags" && len(g.CreateActions) == 0 && !g.BuildTags {
		add(noBuildTags)
	}
	if g.PassedTo != "" {
		add(Conditions{"StringEquals": {"iam:PassedToService": {g.PassedTo}}})
	}
	if g.ServiceName != "" {
		add(Conditions{"StringEquals": {"iam:AWSServiceName": {g.ServiceName}}})
	}
	add(g.Conditions)
	if len(c) > 0 {
		st.Condition = c
	}
	return []Statement{st}
}

// kmsStatements allow action on exactly keys, only through EC2: a key
// named by ID or ARN is its ARN; one named by alias is any key carrying
// that alias (kms:ResourceAliases). An unknown key is any key, still only
// through EC2.
func kmsStatements(sid, action string, keys []string, s Scope) []Statement {
	var arns, aliases []string
	any := false
	for _, k := range keys {
		switch {
		case !bakery.Known(k):
			any = true
		case strings.HasPrefix(k, "arn:") && strings.Contains(k, ":alias/"):
			aliases = append(aliases, k[strings.Index(k, ":alias/")+1:])
		case strings.HasPrefix(k, "arn:"):
			arns = append(arns, k)
		case strings.HasPrefix(k, "alias/"):
			aliases = append(aliases, k)
		default:
			for _, r := range s.Regions {
				arns = append(arns, fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", s.Partition, r, s.Account, k))
			}
		}
	}
	var via []string
	for _, r := range s.Regions {
		via = append(via, "ec2."+r+".amazonaws.com")
	}
	viaEC2 := func() Conditions { return Conditions{"StringEquals": {"kms:ViaService": via}} }
	if slices.Contains(s.Regions, "*") {
		viaEC2 = func() Conditions { return Conditions{"StringLike": {"kms:ViaService": {"ec2.*.amazonaws.com"}}} }
	}
	var out []Statement
	if any {
		return []Statement{{Sid: sid, Action: []string{action}, Resource: kmsKeyARNs(s, "*"), Condition: viaEC2()}}
	}
	if len(arns) > 0 {
		out = append(out, Statement{Sid: sid, Action: []string{action}, Resource: arns, Condition: viaEC2()})
	}
	if len(aliases) > 0 {
		c := viaEC2()
		c["ForAnyValue:StringEquals"] = map[string][]string{"kms:ResourceAliases": aliases}
		out = append(out, Statement{Sid: sid + "ByAlias", Action: []string{action}, Resource: kmsKeyARNs(s, "*"), Condition: c})
	}
	return out
}

func kmsKeyARNs(s Scope, id string) []string {
	var out []string
	for _, r := range s.Regions {
		out = append(out, fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", s.Partition, r, s.Account, id))
	}
	return out
}
