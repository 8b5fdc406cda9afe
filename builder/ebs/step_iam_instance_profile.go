package ebs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

type instanceProfileManager interface {
	GetInstanceProfile(context.Context, *iam.GetInstanceProfileInput, ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	CreateInstanceProfile(context.Context, *iam.CreateInstanceProfileInput, ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error)
	AddRoleToInstanceProfile(context.Context, *iam.AddRoleToInstanceProfileInput, ...func(*iam.Options)) (*iam.AddRoleToInstanceProfileOutput, error)
	RemoveRoleFromInstanceProfile(context.Context, *iam.RemoveRoleFromInstanceProfileInput, ...func(*iam.Options)) (*iam.RemoveRoleFromInstanceProfileOutput, error)
	DeleteInstanceProfile(context.Context, *iam.DeleteInstanceProfileInput, ...func(*iam.Options)) (*iam.DeleteInstanceProfileOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	DeleteRole(context.Context, *iam.DeleteRoleInput, ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
}

// ec2TrustPolicy lets EC2 instances assume the temporary role.
const ec2TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// stepIAMInstanceProfile checks the configured instance profile, or makes
// a temporary one (role, inline policy, profile) for the build instance;
// Cleanup removes the temporary one.
type stepIAMInstanceProfile struct {
	iam            instanceProfileManager
	existing       string // iam_instance_profile
	skipValidation bool
	document       *PolicyDocument // temporary_iam_instance_profile_policy_document
	boundary       string          // temporary_iam_role_permissions_boundary: the role's, or none
	name           string          // of the temporary role, its policy and profile
	probe          string          // a name no role or profile has, for the permission check
	tags           bakery.Tags
	poll           bakery.Poll // how to wait for IAM to show the profile
	journal        *journal.Journal

	roleARN    string // created (or adopted) role
	policy     bool   // the inline policy is on the role
	profileARN string // created (or adopted) profile
	roleAdded  bool   // the role is in the profile

	// Creates sent whose reply never came (Ctrl-C mid-call): what they
	// made is found by name and tags at cleanup.
	roleAttempted, profileAttempted, addAttempted bool
}

var _ multistep.Step = (*stepIAMInstanceProfile)(nil)

func (s *stepIAMInstanceProfile) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	switch {
	case s.existing != "":
		return s.useExisting(ctx, state)
	case s.document != nil:
		return s.createTemporary(ctx, state)
	}
	return multistep.ActionContinue
}

func (s *stepIAMInstanceProfile) useExisting(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	if s.skipValidation {
		ui.Say(fmt.Sprintf("Using instance profile %s (not checked: skip_profile_validation)", s.existing))
		putInstanceProfile(state, s.existing)
		return multistep.ActionContinue
	}
	out, err := s.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(s.existing)})
	switch {
	case apiErrorCode(err) == "NoSuchEntity":
		return halt(state, fmt.Errorf("`iam_instance_profile` %q: no instance profile of that name in this account: create it, or fix the name (nothing was launched): %w", s.existing, err))
	case err != nil:
		return halt(state, fmt.Errorf("checking `iam_instance_profile` %q with iam:GetInstanceProfile (set `skip_profile_validation = true` if these credentials may not read it): %w", s.existing, err))
	}
	roles := profileRoles(out.InstanceProfile)
	if len(roles) == 0 {
		ui.Error(fmt.Sprintf("Warning: instance profile %s holds no role: the instance will get no AWS credentials from it", s.existing))
	}
	ui.Say(fmt.Sprintf("Using instance profile %s (role %s)", s.existing, orNone(strings.Join(roles, ", "))))
	putInstanceProfile(state, s.existing)
	return multistep.ActionContinue
}

func (s *stepIAMInstanceProfile) createTemporary(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	policy, err := s.document.JSON()
	if err != nil {
		return halt(state, fmt.Errorf("encoding `temporary_iam_instance_profile_policy_document`: %w", err))
	}

	ui.Say(fmt.Sprintf("Creating temporary IAM role %s...", s.name))
	role, err := s.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(s.name),
		AssumeRolePolicyDocument: aws.String(ec2TrustPolicy),
		Description:              aws.String(tempRoleDescription),
		PermissionsBoundary:      s.boundaryARN(),
		Tags:                     s.iamTags(),
	})
	s.roleAttempted = unanswered(ctx, err)
	switch {
	case apiErrorCode(err) == "EntityAlreadyExists":
		// A lost reply: the SDK's retry meets the role the first attempt made.
		var got *iam.GetRoleOutput
		if got, err = s.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(s.name)}); err == nil {
			if err = s.ours("role", got.Role.Tags); err == nil {
				err = roleAsSent(got.Role, s.boundary)
			}
			if err == nil {
				err = s.rolePoliciesAsSent(ctx)
			}
			if err == nil {
				s.roleARN = aws.ToString(got.Role.Arn)
				ui.Say(fmt.Sprintf("Role %s was created by an attempt whose reply was lost; using it", s.name))
			}
		}
	case err == nil:
		s.roleARN = aws.ToString(role.Role.Arn)
	case s.boundary != "" && !unanswered(ctx, err):
		// The boundary is the likely cause: a policy not created yet, or a
		// build policy generated for another boundary.
		err = fmt.Errorf("with permissions boundary %s (`temporary_iam_role_permissions_boundary`: the policy must exist, and the build's credentials may create roles only with the boundary their policy names; `packer-plugin-bakery iam-policy -boundary` and `iam-policy` write both): %w", s.boundary, err)
	}
	if err != nil {
		return halt(state, fmt.Errorf("creating temporary IAM role %q: %w", s.name, err))
	}
	_ = s.journal.Record(journal.KindIAMRole, s.roleARN, "")

	// PutRolePolicy replaces a policy of the same name: a retry is harmless.
	_, err = s.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName:       aws.String(s.name),
		PolicyName:     aws.String(s.name),
		PolicyDocument: aws.String(policy),
	})
	s.policy = err == nil || unanswered(ctx, err)
	if err != nil {
		return halt(state, fmt.Errorf("putting the policy of `temporary_iam_instance_profile_policy_document` on role %q: %w", s.name, err))
	}

	ui.Say(fmt.Sprintf("Creating temporary instance profile %s...", s.name))
	profile, err := s.iam.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{
		InstanceProfileName: aws.String(s.name),
		Tags:                s.iamTags(),
	})
	s.profileAttempted = unanswered(ctx, err)
	var roles []string
	switch {
	case apiErrorCode(err) == "EntityAlreadyExists":
		var got *iam.GetInstanceProfileOutput
		if got, err = s.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(s.name)}); err == nil {
			if err = s.ours("instance profile", got.InstanceProfile.Tags); err == nil {
				err = s.profileAsSent(got.InstanceProfile)
			}
			if err == nil {
				s.profileARN = aws.ToString(got.InstanceProfile.Arn)
				roles = profileRoles(got.InstanceProfile)
				ui.Say(fmt.Sprintf("Instance profile %s was created by an attempt whose reply was lost; using it", s.name))
			}
		}
	case err == nil:
		s.profileARN = aws.ToString(profile.InstanceProfile.Arn)
	}
	if err != nil {
		return halt(state, fmt.Errorf("creating temporary instance profile %q: %w", s.name, err))
	}
	_ = s.journal.Record(journal.KindIAMInstanceProfile, s.profileARN, "")

	if !slices.Contains(roles, s.name) {
		_, err = s.iam.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{
			InstanceProfileName: aws.String(s.name),
			RoleName:            aws.String(s.name),
		})
		s.addAttempted = unanswered(ctx, err)
		// A profile holds one role: LimitExceeded after a lost reply means
		// the role went in; the wait below checks it is ours.
		if code := apiErrorCode(err); code == "LimitExceeded" || code == "EntityAlreadyExists" {
			err = nil
		}
		if err != nil {
			return halt(state, fmt.Errorf("adding role %q to instance profile %q: %w", s.name, s.name, err))
		}
	}
	s.roleAdded = true

	// IAM is eventually consistent: wait until it shows the profile with
	// its role. EC2 may still lag behind; the launch retries for that.
	poll := s.poll
	if poll.Timeout == 0 || poll.Timeout > profileLaunchTimeout {
		poll.Timeout = profileLaunchTimeout
	}
	err = bakery.Wait(ctx, ui.Say, "instance profile "+s.name+" to show its role", poll, func(ctx context.Context) (bool, string, error) {
		out, err := s.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(s.name)})
		if apiErrorCode(err) == "NoSuchEntity" {
			return false, "not visible yet", nil
		}
		if err != nil {
			return false, "", err
		}
		roles := profileRoles(out.InstanceProfile)
		switch {
		case slices.Contains(roles, s.name):
			return true, "ready", nil
		case len(roles) > 0:
			return false, "", fmt.Errorf("instance profile %s holds role %s, not this build's %s", s.name, strings.Join(roles, ", "), s.name)
		}
		return false, "without its role yet", nil
	})
	if err != nil {
		return halt(state, err)
	}
	ui.Say(fmt.Sprintf("Instance profile %s is ready (role %s with the template's policy)", s.name, s.name))
	putInstanceProfile(state, s.name)
	return multistep.ActionContinue
}

func (s *stepIAMInstanceProfile) iamTags() []types.Tag {
	out := make([]types.Tag, 0, len(s.tags))
	for _, t := range s.tags.EC2() {
		out = append(out, types.Tag{Key: aws.String(iamTagText(aws.ToString(t.Key))), Value: aws.String(iamTagText(aws.ToString(t.Value)))})
	}
	return out
}

// iamTagText replaces what IAM refuses in tags, where EC2 takes anything:
// a Windows user in bakery:created-by (DOMAIN\user) would otherwise
// fail the build.
func iamTagText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Z, r) || strings.ContainsRune("_.:/=+-@", r) {
			return r
		}
		return '_'
	}, s)
}

// tempRoleDescription is what the build's role says: part of what adoption
// checks.
const tempRoleDescription = "Temporary role of a Packer bakery-ebs build instance"

// boundaryARN is CreateRole's PermissionsBoundary: none without
// `temporary_iam_role_permissions_boundary`.
func (s *stepIAMInstanceProfile) boundaryARN() *string {
	if s.boundary == "" {
		return nil
	}
	return aws.String(s.boundary)
}

// roleAsSent fails unless the role is what our CreateRole sent: the build
// id tag alone shows in the key pair's name, so anyone could plant a role
// with it, e.g. one that trusts them, and have the build fill it with the
// template's policy and hand it to the instance. Its permissions boundary
// must be exactly ours (boundary, or none without one): a role with none,
// or another, may do more than the boundary the policy holder is held to.
// Its policies are read by rolePoliciesAsSent.
func roleAsSent(r *types.Role, boundary string) error {
	if r == nil {
		return errors.New("IAM returned no role")
	}
	trust, err := url.QueryUnescape(aws.ToString(r.AssumeRolePolicyDocument))
	if err != nil {
		trust = aws.ToString(r.AssumeRolePolicyDocument)
	}
	if b := r.PermissionsBoundary; (b == nil) != (boundary == "") || (b != nil && aws.ToString(b.PermissionsBoundaryArn) != boundary) {
		got := "none"
		if b != nil {
			got = aws.ToString(b.PermissionsBoundaryArn)
		}
		return fmt.Errorf("role %q carries this build's tag but is not what the build made (its permissions boundary is %s, the build sets %s): someone else made it; it is left untouched, delete it or use `iam_instance_profile`",
			aws.ToString(r.RoleName), got, orNone(boundary))
	}
	var got, want any
	if json.Unmarshal([]byte(trust), &got) != nil || json.Unmarshal([]byte(ec2TrustPolicy), &want) != nil || !reflect.DeepEqual(got, want) ||
		aws.ToString(r.Description) != tempRoleDescription {
		return fmt.Errorf("role %q carries this build's tag but is not what the build made (its trust policy or description differ): someone else made it; it is left untouched, delete it or use `iam_instance_profile`",
			aws.ToString(r.RoleName))
	}
	return nil
}

// rolePoliciesAsSent fails unless the role holds no policy, as our
// CreateRole made it (the template's policy is put after): a role planted
// with our tag, trust policy and description could otherwise hand the
// instance whatever its maker attached or put inline besides ours.
func (s *stepIAMInstanceProfile) rolePoliciesAsSent(ctx context.Context) error {
	name := aws.String(s.name)
	notOurs := func(why string) error {
		return fmt.Errorf("role %q carries this build's tag but is not what the build made (%s): someone else made it; it is left untouched, delete it or use `iam_instance_profile`", s.name, why)
	}
	attached, err := s.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: name})
	if err != nil {
		return fmt.Errorf("reading the managed policies of role %q to see whether this build made it: %w", s.name, err)
	}
	if len(attached.AttachedPolicies) > 0 || attached.IsTruncated {
		arns := make([]string, 0, len(attached.AttachedPolicies))
		for _, p := range attached.AttachedPolicies {
			arns = append(arns, aws.ToString(p.PolicyArn))
		}
		return notOurs("managed policies are attached to it: " + strings.Join(arns, ", "))
	}
	inline, err := s.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: name})
	if err != nil {
		return fmt.Errorf("reading the inline policies of role %q to see whether this build made it: %w", s.name, err)
	}
	// Our CreateRole made the role bare; PutRolePolicy comes after.
	if len(inline.PolicyNames) > 0 || inline.IsTruncated {
		return notOurs("it holds inline policies: " + strings.Join(inline.PolicyNames, ", "))
	}
	return nil
}

// profileAsSent fails unless the profile is as CreateInstanceProfile made
// it: at the root path, holding no role but, maybe, the build's own.
// A profile planted with our tag and a role of its maker would otherwise
// be journaled, and deleted by the cleanup or the sweep.
func (s *stepIAMInstanceProfile) profileAsSent(p *types.InstanceProfile) error {
	if p == nil {
		return errors.New("IAM returned no instance profile")
	}
	var others []string
	for _, r := range profileRoles(p) {
		if r != s.name {
			others = append(others, r)
		}
	}
	if path := aws.ToString(p.Path); len(others) > 0 || (path != "" && path != "/") {
		return fmt.Errorf("instance profile %q carries this build's tag but is not what the build made (path %s, roles %s): someone else made it; it is left untouched, delete it or use `iam_instance_profile`",
			s.name, orNone(path), orNone(strings.Join(profileRoles(p), ", ")))
	}
	return nil
}

// ours fails unless tags carry this build's id: an entity of our name that
// another build made is not ours to use, nor to delete.
func (s *stepIAMInstanceProfile) ours(what string, tags []types.Tag) error {
	want := s.tags[bakery.TagBuildID]
	for _, t := range tags {
		if aws.ToString(t.Key) == bakery.TagBuildID && want != "" && aws.ToString(t.Value) == want {
			return nil
		}
	}
	return fmt.Errorf("%s %q already exists and is not this build's (no %s=%s tag): delete it, or use `iam_instance_profile`", what, s.name, bakery.TagBuildID, want)
}

func profileRoles(p *types.InstanceProfile) []string {
	if p == nil {
		return nil
	}
	names := make([]string, 0, len(p.Roles))
	for _, r := range p.Roles {
		names = append(names, aws.ToString(r.RoleName))
	}
	return names
}

// Cleanup undoes what Run made, in the order IAM allows: the role leaves
// the profile, the profile goes, then the role's policy and the role.
func (s *stepIAMInstanceProfile) Cleanup(state multistep.StateBag) {
	if s.roleARN == "" && s.profileARN == "" && !s.roleAttempted && !s.profileAttempted {
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	s.findUnanswered(ctx)
	if s.roleARN == "" && s.profileARN == "" {
		return
	}
	name := aws.String(s.name)
	cmdRemove := fmt.Sprintf("aws iam remove-role-from-instance-profile --instance-profile-name %s --role-name %s", s.name, s.name)
	cmdProfile := "aws iam delete-instance-profile --instance-profile-name " + s.name
	cmdPolicy := fmt.Sprintf("aws iam delete-role-policy --role-name %s --policy-name %s", s.name, s.name)
	cmdRole := "aws iam delete-role --role-name " + s.name
	gone := func(err error) bool { return err == nil || apiErrorCode(err) == "NoSuchEntity" }

	if s.profileARN != "" {
		ui.Say(fmt.Sprintf("Deleting temporary instance profile %s...", s.name))
		if s.roleAdded {
			_, err := s.iam.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: name, RoleName: name})
			if !gone(err) {
				// Neither the profile nor the role can go while one holds the other.
				manual := []string{cmdRemove, cmdProfile}
				if s.roleARN != "" {
					manual = append(manual, cmdPolicy, cmdRole)
				}
				cleanupFailed(ui, "temporary instance profile", s.name, strings.Join(manual, " && "), fmt.Errorf("removing role %s from it: %w", s.name, err))
				return
			}
			s.roleAdded = false
		}
		if _, err := s.iam.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: name}); !gone(err) {
			cleanupFailed(ui, "temporary instance profile", s.name, cmdProfile, err)
		} else {
			_ = s.journal.Forget(s.profileARN)
			s.profileARN = ""
		}
	}
	if s.roleARN == "" {
		return
	}
	ui.Say(fmt.Sprintf("Deleting temporary IAM role %s...", s.name))
	if s.policy {
		if _, err := s.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: name, PolicyName: name}); !gone(err) {
			cleanupFailed(ui, "temporary IAM role", s.name, cmdPolicy+" && "+cmdRole, fmt.Errorf("deleting its policy %s: %w", s.name, err))
			return
		}
		s.policy = false
	}
	if _, err := s.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name}); !gone(err) {
		cleanupFailed(ui, "temporary IAM role", s.name, cmdRole, err)
		return
	}
	_ = s.journal.Forget(s.roleARN)
	s.roleARN = ""
}

// unanswered is true when a call may have taken effect without its reply
// reaching us: the build was cancelled while it was in flight.
func unanswered(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil
}

// findUnanswered looks for what creates cut short by Ctrl-C may have made
// although their reply never came: entities of this build's name that carry
// its build id are this build's to delete.
func (s *stepIAMInstanceProfile) findUnanswered(ctx context.Context) {
	if s.roleAttempted && s.roleARN == "" {
		got, err := s.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(s.name)})
		if err == nil && s.ours("role", got.Role.Tags) == nil {
			s.roleARN = aws.ToString(got.Role.Arn)
			s.policy = true // maybe: deleting a policy that is not there is fine
			_ = s.journal.Record(journal.KindIAMRole, s.roleARN, "")
		}
	}
	if (s.profileAttempted && s.profileARN == "") || (s.addAttempted && !s.roleAdded) {
		got, err := s.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(s.name)})
		if err == nil && s.ours("instance profile", got.InstanceProfile.Tags) == nil {
			if s.profileARN == "" {
				s.profileARN = aws.ToString(got.InstanceProfile.Arn)
				_ = s.journal.Record(journal.KindIAMInstanceProfile, s.profileARN, "")
			}
			s.roleAdded = slices.Contains(profileRoles(got.InstanceProfile), s.name)
		}
	}
	s.roleAttempted, s.profileAttempted, s.addAttempted = false, false, false
}

// profileLaunchTimeout bounds how long IAM may take to show a new profile,
// and a launch is retried while EC2 does not know it yet; AWS says
// seconds, rarely a minute.
const profileLaunchTimeout = 2 * time.Minute

// profileLauncher retries RunInstances while EC2 rejects the instance
// profile as unknown, which it does for a few seconds after IAM made it.
// Every other call and error passes through.
type profileLauncher struct {
	instanceRunner
	say  func(string)
	poll bakery.Poll
}

func (l *profileLauncher) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	if in.IamInstanceProfile == nil {
		return l.instanceRunner.RunInstances(ctx, in, opts...)
	}
	profile := aws.ToString(in.IamInstanceProfile.Name)
	poll := l.poll
	if poll.Timeout == 0 {
		poll.Timeout = profileLaunchTimeout
	}
	var out *ec2.RunInstancesOutput
	var final, last error
	err := bakery.Wait(ctx, l.say, "EC2 to accept instance profile "+profile, poll, func(ctx context.Context) (bool, string, error) {
		o, err := l.instanceRunner.RunInstances(ctx, in, opts...)
		if unknownProfile(err) {
			last = err
			return false, "unknown to EC2 yet", nil
		}
		out, final = o, err
		return true, "accepted", nil
	})
	switch {
	case errors.Is(err, bakery.ErrWaitTimeout):
		return nil, fmt.Errorf("EC2 still rejects instance profile %s after %s: check that the profile exists: %w", profile, poll.Timeout, last)
	case err != nil:
		return nil, err
	}
	return out, final
}

// unknownProfile is EC2's answer to a profile it does not know (yet):
// InvalidParameterValue "… Invalid IAM Instance Profile name".
func unknownProfile(err error) bool {
	if apiErrorCode(err) != "InvalidParameterValue" {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "iam instance profile") || strings.Contains(msg, "iaminstanceprofile")
}

func (s *stepIAMInstanceProfile) awsCalls() []awsCall {
	switch {
	case s.existing != "":
		// EC2 takes the profile; IAM asks the caller to pass its role.
		calls := []awsCall{{action: "iam:PassRole", partOf: "ec2:RunInstances",
			grants: []Grant{{Sid: "PassInstanceProfileRole", ProfileRole: s.existing, PassedTo: "ec2.amazonaws.com"}}}}
		if s.skipValidation {
			return calls
		}
		name := s.existing
		if !bakery.Known(name) {
			name = "*"
		}
		return append(calls, awsCall{action: "iam:GetInstanceProfile",
			grants: []Grant{{Sid: "ReadInstanceProfile", IAM: []string{"instance-profile/" + name}}},
			check: func(ctx context.Context) error {
				_, err := s.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(s.existing)})
				return err
			}})
	case s.document != nil:
		return s.temporaryCalls()
	}
	return nil
}

// temporaryCalls are the calls of a temporary profile. Role, inline policy
// and profile are all named packer_bakery_<build id>: nothing else can be
// touched. IAM has no DryRun: the reads and the cleanup's deletions are
// asked about s.probe, a name that cannot exist (IAM then answers
// NoSuchEntity if allowed, AccessDenied if not: refused, cleanup would leave
// them behind). The creations are not asked: refused, they stop the build
// here, before the launch, naming the action.
//
// The two calls that make a role or give it permissions, CreateRole and
// PutRolePolicy, are granted only with the role's permissions boundary
// (iam:PermissionsBoundary, which IAM sets for both): a holder of the policy
// can then make no packer_bakery_* role that may do more than the boundary,
// whatever it puts on it. Nothing else that changes a role's permissions
// (AttachRolePolicy, the boundary's own Put/Delete, UpdateAssumeRolePolicy,
// policy versions) is granted at all.
func (s *stepIAMInstanceProfile) temporaryCalls() []awsCall {
	role, profile := "role/packer_bakery_*", "instance-profile/packer_bakery_*"
	grant := func(sid string, tagged Tagging, resources ...string) []Grant {
		return []Grant{{Sid: sid, IAM: resources, Tagged: tagged}}
	}
	bounded := func(sid string, tagged Tagging) []Grant {
		g := grant(sid, tagged, role)
		if s.boundary != "" {
			g[0].Conditions = map[string]map[string][]string{"StringEquals": {"iam:PermissionsBoundary": {s.boundary}}}
		}
		return g
	}
	name := aws.String(s.probe)
	return []awsCall{
		{action: "iam:CreateRole", grants: bounded("CreateBoundedBuildRole", RequestTagged)},
		// TagRole has no iam:PermissionsBoundary: its own statement.
		{action: "iam:TagRole", partOf: "iam:CreateRole", grants: grant("CreateTaggedBuildRole", RequestTagged, role)},
		{action: "iam:CreateInstanceProfile", grants: grant("CreateTaggedBuildProfile", RequestTagged, profile)},
		{action: "iam:TagInstanceProfile", partOf: "iam:CreateInstanceProfile", grants: grant("CreateTaggedBuildProfile", RequestTagged, profile)},
		{action: "iam:PutRolePolicy", grants: bounded("FillBoundedBuildRole", ResourceTagged)},
		{action: "iam:DeleteRolePolicy", grants: grant("ChangeOwnBuildRole", ResourceTagged, role), check: func(ctx context.Context) error {
			_, err := s.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: name, PolicyName: name})
			return err
		}},
		{action: "iam:DeleteRole", grants: grant("ChangeOwnBuildRole", ResourceTagged, role), check: func(ctx context.Context) error {
			_, err := s.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name})
			return err
		}},
		{action: "iam:AddRoleToInstanceProfile", grants: grant("ChangeOwnBuildProfile", ResourceTagged, profile)},
		{action: "iam:RemoveRoleFromInstanceProfile", grants: grant("ChangeOwnBuildProfile", ResourceTagged, profile), check: func(ctx context.Context) error {
			_, err := s.iam.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: name, RoleName: name})
			return err
		}},
		{action: "iam:DeleteInstanceProfile", grants: grant("ChangeOwnBuildProfile", ResourceTagged, profile), check: func(ctx context.Context) error {
			_, err := s.iam.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: name})
			return err
		}},
		{action: "iam:GetRole", grants: grant("ReadBuildRoleAndProfile", Untagged, role, profile), check: func(ctx context.Context) error {
			_, err := s.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
			return err
		}},
		{action: "iam:GetInstanceProfile", grants: grant("ReadBuildRoleAndProfile", Untagged, role, profile), check: func(ctx context.Context) error {
			_, err := s.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: name})
			return err
		}},
		// Adopting a role after a lost reply reads what policies it holds.
		{action: "iam:ListAttachedRolePolicies", grants: grant("ReadBuildRoleAndProfile", Untagged, role, profile), check: func(ctx context.Context) error {
			_, err := s.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: name})
			return err
		}},
		{action: "iam:ListRolePolicies", grants: grant("ReadBuildRoleAndProfile", Untagged, role, profile), check: func(ctx context.Context) error {
			_, err := s.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: name})
			return err
		}},
		{action: "iam:PassRole", partOf: "ec2:RunInstances", grants: []Grant{{Sid: "PassBuildRole", IAM: []string{role}, PassedTo: "ec2.amazonaws.com"}}},
	}
}
