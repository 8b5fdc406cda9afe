package sweep

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// IAM is what a sweep calls to remove the temporary roles and instance
// profiles of `temporary_iam_instance_profile_policy_document`. IAM is
// global: it is swept once, whatever the regions.
type IAM interface {
	iam.ListRolesAPIClient
	iam.ListInstanceProfilesAPIClient
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetInstanceProfile(context.Context, *iam.GetInstanceProfileInput, ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	RemoveRoleFromInstanceProfile(context.Context, *iam.RemoveRoleFromInstanceProfileInput, ...func(*iam.Options)) (*iam.RemoveRoleFromInstanceProfileOutput, error)
	DeleteInstanceProfile(context.Context, *iam.DeleteInstanceProfileInput, ...func(*iam.Options)) (*iam.DeleteInstanceProfileOutput, error)
	DeleteRole(context.Context, *iam.DeleteRoleInput, ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
}

// iamNamePrefix begins the names of the builder's temporary IAM entities
// (builder/ebs/names.go).
const iamNamePrefix = "packer_bakery_"

// RunIAM sweeps the temporary IAM roles and instance profiles of dead
// builds. Listing IAM returns no tags, so every entity named like the
// builder's (or named in a journal) is read once for its tags; one without
// the build-id tag is never touched.
func RunIAM(ctx context.Context, out io.Writer, c IAM, journals []journal.Entry, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	byID := map[string]journal.Entry{}
	for _, e := range journals {
		byID[e.BuildID] = e
	}
	found, roles, err := listIAM(ctx, c, journals)
	if err != nil {
		return fmt.Errorf("IAM: %w", err)
	}
	var failures []string
	builds := groupByBuild(found)
	for _, id := range sortedKeys(builds) {
		if opts.BuildID != "" && id != opts.BuildID {
			continue
		}
		res := builds[id]
		verdict, sweepIt := decide(id, res, byID, opts)
		fmt.Fprintf(out, "IAM build %s: %s\n", id, verdict)
		for _, r := range res {
			fmt.Fprintf(out, "  %s %s (created %s)\n", r.kind, r.id, r.created.Format(time.RFC3339))
		}
		if !sweepIt || opts.DryRun {
			continue
		}
		if errs := removeIAM(ctx, out, c, res, roles); len(errs) > 0 {
			failures = append(failures, errs...)
			continue
		}
		if _, ok := byID[id]; ok {
			err := journal.ForgetWhere(id, func(r journal.Resource) bool {
				return r.Kind == journal.KindIAMRole || r.Kind == journal.KindIAMInstanceProfile
			})
			if err != nil {
				failures = append(failures, fmt.Sprintf("updating the journal of build %s: %v", id, err))
			}
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("sweep left IAM entities behind:\n  %s", strings.Join(failures, "\n  "))
	}
	return nil
}

// listIAM returns the tagged roles and profiles, and the roles each
// profile holds.
func listIAM(ctx context.Context, c IAM, journals []journal.Entry) ([]found, map[string][]string, error) {
	var roleNames, profileNames []string
	seen := map[string]bool{}
	add := func(list *[]string, kind journal.Kind, name string) {
		if !seen[string(kind)+"/"+name] {
			seen[string(kind)+"/"+name] = true
			*list = append(*list, name)
		}
	}
	for _, e := range journals {
		for _, r := range e.Resources {
			switch r.Kind {
			case journal.KindIAMRole:
				add(&roleNames, journal.KindIAMRole, arnName(r.ID))
			case journal.KindIAMInstanceProfile:
				add(&profileNames, journal.KindIAMInstanceProfile, arnName(r.ID))
			}
		}
	}
	rp := iam.NewListRolesPaginator(c, &iam.ListRolesInput{})
	for rp.HasMorePages() {
		page, err := rp.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("listing roles: %w", err)
		}
		for _, r := range page.Roles {
			if name := aws.ToString(r.RoleName); strings.HasPrefix(name, iamNamePrefix) {
				add(&roleNames, journal.KindIAMRole, name)
			}
		}
	}
	pp := iam.NewListInstanceProfilesPaginator(c, &iam.ListInstanceProfilesInput{})
	for pp.HasMorePages() {
		page, err := pp.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("listing instance profiles: %w", err)
		}
		for _, p := range page.InstanceProfiles {
			if name := aws.ToString(p.InstanceProfileName); strings.HasPrefix(name, iamNamePrefix) {
				add(&profileNames, journal.KindIAMInstanceProfile, name)
			}
		}
	}

	var out []found
	roles := map[string][]string{}
	for _, name := range roleNames {
		got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if code(err) == "NoSuchEntity" {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading role %s: %w", name, err)
		}
		out = append(out, found{journal.KindIAMRole, name, "global", iamTag(got.Role.Tags, bakery.TagBuildID), iamCreated(got.Role.Tags, aws.ToTime(got.Role.CreateDate))})
	}
	for _, name := range profileNames {
		got, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		if code(err) == "NoSuchEntity" {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading instance profile %s: %w", name, err)
		}
		p := got.InstanceProfile
		out = append(out, found{journal.KindIAMInstanceProfile, name, "global", iamTag(p.Tags, bakery.TagBuildID), iamCreated(p.Tags, aws.ToTime(p.CreateDate))})
		for _, r := range p.Roles {
			roles[name] = append(roles[name], aws.ToString(r.RoleName))
		}
	}
	return out, roles, nil
}

// removeIAM deletes a build's IAM entities in the order IAM allows:
// profiles let go of their roles and go, then roles lose their inline
// policies and go.
func removeIAM(ctx context.Context, out io.Writer, c IAM, res []found, roles map[string][]string) []string {
	say := func(s string) { fmt.Fprintln(out, "  "+s) }
	var failures []string
	for _, r := range res {
		if r.kind != journal.KindIAMInstanceProfile {
			continue
		}
		name := aws.String(r.id)
		ok := true
		for _, role := range roles[r.id] {
			_, err := c.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: name, RoleName: aws.String(role)})
			if err != nil && code(err) != "NoSuchEntity" {
				failures = append(failures, fmt.Sprintf("removing role %s from instance profile %s: %v", role, r.id, err))
				ok = false
			}
		}
		if !ok {
			continue
		}
		if _, err := c.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: name}); err != nil && code(err) != "NoSuchEntity" {
			failures = append(failures, fmt.Sprintf("deleting instance profile %s: %v", r.id, err))
			continue
		}
		say("removed " + string(r.kind) + " " + r.id)
	}
	for _, r := range res {
		if r.kind != journal.KindIAMRole {
			continue
		}
		if err := deleteRole(ctx, c, r.id); err != nil {
			failures = append(failures, err.Error())
			continue
		}
		say("removed " + string(r.kind) + " " + r.id)
	}
	return failures
}

func deleteRole(ctx context.Context, c IAM, name string) error {
	pp := iam.NewListRolePoliciesPaginator(c, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	for pp.HasMorePages() {
		page, err := pp.NextPage(ctx)
		if code(err) == "NoSuchEntity" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the policies of role %s: %w", name, err)
		}
		for _, p := range page.PolicyNames {
			if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(p)}); err != nil && code(err) != "NoSuchEntity" {
				return fmt.Errorf("deleting policy %s of role %s: %w", p, name, err)
			}
		}
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)}); err != nil && code(err) != "NoSuchEntity" {
		return fmt.Errorf("deleting role %s: %w", name, err)
	}
	return nil
}

func iamTag(tags []iamtypes.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// iamCreated is IAM's CreateDate, never the bakery:created-at tag (see
// created).
func iamCreated(_ []iamtypes.Tag, reported time.Time) time.Time { return reported }

// arnName is an IAM entity's name: the last part of its ARN's path.
func arnName(arn string) string {
	return arn[strings.LastIndex(arn, "/")+1:]
}
