package ebs

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

type securityGroupManager interface {
	CreateSecurityGroup(context.Context, *ec2.CreateSecurityGroupInput, ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	AuthorizeSecurityGroupIngress(context.Context, *ec2.AuthorizeSecurityGroupIngressInput, ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
}

// stepSecurityGroup uses the configured security groups (by ID or by
// filter), or creates a temporary one that admits only the communicator port
// from the configured CIDR blocks or from this machine's public address.
type stepSecurityGroup struct {
	ec2      securityGroupManager
	ids      []string
	filter   SecurityGroupFilterOptions
	name     string
	vpcID    string // vpc_id, if set: where the temporary group is made
	port     int
	cidrs    []string
	publicIP bool                                  // admit only this machine's public address
	lookupIP func(context.Context) (net.IP, error) // publicIP's lookup; checkPublicIP when nil
	tags     bakery.Tags                           // its Name, run_tags and the build's own tags, as amazon-ebs tags it with run_tags
	// tunnel is `ssh_interface` when it names a tunnel: with Session
	// Manager the group admits nothing (the agent connects out); with an
	// EC2 Instance Connect Endpoint, the port from the endpoint's security
	// groups only (stepFindEndpoint found them), never from a CIDR.
	tunnel  string
	written asWritten   // the tags as written, for the permission check's dry run
	poll    bakery.Poll // how to wait for the instance to let go of the group
	journal *journal.Journal
	created string
}

var _ multistep.Step = (*stepSecurityGroup)(nil)

func (s *stepSecurityGroup) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	vpc := getNetwork(state).VpcID
	if len(s.ids) > 0 {
		// Checked before the launch, as amazon-ebs does: RunInstances would
		// refuse too, but later and with a vaguer message.
		if err := s.checkGroups(ctx, vpc); err != nil {
			return halt(state, err)
		}
		putSecurityGroupIDs(state, s.ids)
		return multistep.ActionContinue
	}
	if !s.filter.Empty() {
		ids, err := s.findGroups(ctx, vpc)
		if err != nil {
			return halt(state, err)
		}
		ui.Say(fmt.Sprintf("Security groups of `security_group_filter`: %s", strings.Join(ids, ", ")))
		putSecurityGroupIDs(state, ids)
		return multistep.ActionContinue
	}
	cidrs := s.cidrs
	if s.publicIP {
		// Before anything is created: a failed lookup leaves nothing behind.
		ui.Say("Looking up this machine's public IP address...")
		lookup := s.lookupIP
		if lookup == nil {
			lookup = checkPublicIP
		}
		ip, err := lookup(ctx)
		if err != nil {
			return halt(state, fmt.Errorf("`temporary_security_group_source_public_ip`: %w; set `temporary_security_group_source_cidrs` instead", err))
		}
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		cidrs = []string{fmt.Sprintf("%s/%d", ip, bits)}
		ui.Say(fmt.Sprintf("This machine's public IP address is %s", ip))
	}
	ui.Say(fmt.Sprintf("Creating temporary security group %s in %s...", s.name, vpc))
	out, err := s.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName:         aws.String(s.name),
		Description:       aws.String(tempGroupDescription),
		VpcId:             aws.String(vpc),
		TagSpecifications: s.tags.Spec(types.ResourceTypeSecurityGroup),
	})
	var groupID string
	switch {
	case apiErrorCode(err) == "InvalidGroup.Duplicate":
		// A lost reply: the retry meets the group the first attempt made.
		if groupID, err = s.adopt(ctx, vpc); err == nil {
			ui.Say(fmt.Sprintf("Security group %s was created by an attempt whose reply was lost; using it", groupID))
		}
	case err == nil:
		groupID = aws.ToString(out.GroupId)
	}
	if err != nil {
		return halt(state, fmt.Errorf("creating temporary security group %q: %w", s.name, err))
	}
	s.created = groupID
	_ = s.journal.Record(journal.KindSecurityGroup, groupID, "")
	if s.port == 0 || s.tunnel == interfaceSessionManager {
		// `communicator = "none"`: nothing connects, so nothing is let in
		// (a rule for tcp port 0 from the source CIDRs would serve no one).
		// Session Manager: the agent connects out.
		why := "the build has no communicator"
		if s.tunnel == interfaceSessionManager {
			why = "Session Manager's agent connects out"
		}
		ui.Say(fmt.Sprintf("Security group %s admits nothing: %s", s.created, why))
		putSecurityGroupIDs(state, []string{s.created})
		return multistep.ActionContinue
	}

	perm := types.IpPermission{
		IpProtocol: aws.String("tcp"),
		FromPort:   aws.Int32(int32(s.port)),
		ToPort:     aws.Int32(int32(s.port)),
	}
	for _, cidr := range cidrs {
		// EC2 takes IPv6 blocks only in their own list.
		if _, block, err := net.ParseCIDR(cidr); err == nil && block.IP.To4() == nil {
			perm.Ipv6Ranges = append(perm.Ipv6Ranges, types.Ipv6Range{CidrIpv6: aws.String(cidr), Description: aws.String("Packer communicator")})
			continue
		}
		perm.IpRanges = append(perm.IpRanges, types.IpRange{CidrIp: aws.String(cidr), Description: aws.String("Packer communicator")})
	}
	from := fmt.Sprint(cidrs)
	if s.tunnel == interfaceEICE {
		ep := getEndpoint(state)
		for _, g := range ep.SecurityGroupIDs {
			perm.UserIdGroupPairs = append(perm.UserIdGroupPairs, types.UserIdGroupPair{GroupId: aws.String(g), Description: aws.String("EC2 Instance Connect Endpoint " + ep.ID)})
		}
		from = fmt.Sprintf("the security groups %v of EC2 Instance Connect Endpoint %s", ep.SecurityGroupIDs, ep.ID)
	}
	_, err = s.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId:       aws.String(s.created),
		IpPermissions: []types.IpPermission{perm},
	})
	if apiErrorCode(err) == "InvalidPermission.Duplicate" {
		err = nil // the rule is there: an earlier attempt's reply was lost
	}
	if err != nil {
		return halt(state, fmt.Errorf("allowing port %d into security group %s: %w", s.port, s.created, err))
	}
	ui.Say(fmt.Sprintf("Security group %s admits port %d from %s", s.created, s.port, from))
	putSecurityGroupIDs(state, []string{s.created})
	return multistep.ActionContinue
}

// checkGroups makes sure the configured groups exist and are in vpc.
func (s *stepSecurityGroup) checkGroups(ctx context.Context, vpc string) error {
	out, err := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: s.ids})
	if apiErrorCode(err) == "InvalidGroup.NotFound" || apiErrorCode(err) == "InvalidGroupId.Malformed" {
		return fmt.Errorf("`security_group_ids` %v: %w", s.ids, err)
	}
	if err != nil {
		return fmt.Errorf("checking `security_group_ids` %v: %w", s.ids, err)
	}
	found := map[string]string{}
	for _, g := range out.SecurityGroups {
		found[aws.ToString(g.GroupId)] = aws.ToString(g.VpcId)
	}
	var problems []string
	for _, id := range s.ids {
		switch groupVpc, ok := found[id]; {
		case !ok:
			problems = append(problems, id+" does not exist")
		case groupVpc != vpc:
			problems = append(problems, fmt.Sprintf("%s is in %s", id, groupVpc))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("`security_group_ids`: %s; the build runs in %s: give groups of that VPC", strings.Join(problems, ", "), vpc)
	}
	return nil
}

// findGroups returns the IDs of the groups in vpc that security_group_filter
// matches; none is an error, since the instance would be unreachable.
func (s *stepSecurityGroup) findGroups(ctx context.Context, vpc string) ([]string, error) {
	filters, err := ec2Filters(s.filter.Filters, "vpc-id", vpc)
	if err != nil {
		return nil, fmt.Errorf("`security_group_filter`: %w", err)
	}
	var ids []string
	pages := ec2.NewDescribeSecurityGroupsPaginator(s.ec2, &ec2.DescribeSecurityGroupsInput{Filters: filters})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("looking for the security groups of `security_group_filter`: %w", err)
		}
		for _, g := range page.SecurityGroups {
			ids = append(ids, aws.ToString(g.GroupId))
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("`security_group_filter` %s matches no security group in %s: check the filters, or set `security_group_ids`", describeFilters(filters), vpc)
	}
	return ids, nil
}

// checkIPURLEnv overrides where the public IP address is looked up. It is
// for tests, which must not leave the machine; users have no reason to set it.
const checkIPURLEnv = "PACKER_BAKERY_CHECKIP_URL_FOR_TESTS"

// checkPublicIP asks https://checkip.amazonaws.com (as amazon-ebs does) for
// the address this machine's requests come from.
func checkPublicIP(ctx context.Context) (net.IP, error) {
	url := "https://checkip.amazonaws.com"
	if u := os.Getenv(checkIPURLEnv); u != "" {
		url = u
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("looking up this machine's public IP address at %s: %w", url, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("looking up this machine's public IP address: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 256))
	if err != nil {
		return nil, fmt.Errorf("looking up this machine's public IP address at %s: %w", url, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("looking up this machine's public IP address: %s answered %s", url, res.Status)
	}
	ip := net.ParseIP(strings.TrimSpace(string(body)))
	switch {
	case ip == nil:
		return nil, fmt.Errorf("looking up this machine's public IP address: %s answered %q, not an IP address", url, strings.TrimSpace(string(body)))
	case ip.IsUnspecified():
		return nil, fmt.Errorf("looking up this machine's public IP address: %s answered %s, which would admit nobody", url, ip)
	}
	return ip, nil
}

// tempGroupDescription is what the build's group says: part of what
// adoption checks.
const tempGroupDescription = "Temporary group of a Packer bakery-ebs build"

// adopt returns the ID of the group named s.name in vpc if it is what our
// lost first attempt made: this build's id tag (visible to anyone who sees
// the key pair's name, so not enough alone), our description, and no
// ingress rule yet (the build adds its rule only after creating the group;
// a group pre-made with our tag and rules of its own would open the
// instance to them). Any other group of that name is not ours to use.
func (s *stepSecurityGroup) adopt(ctx context.Context, vpc string) (string, error) {
	out, err := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{
			{Name: aws.String("group-name"), Values: []string{s.name}},
			{Name: aws.String("vpc-id"), Values: []string{vpc}},
		},
	})
	if err != nil {
		return "", fmt.Errorf("security group %q already exists; describing it: %w", s.name, err)
	}
	for _, g := range out.SecurityGroups {
		for _, tag := range g.Tags {
			if aws.ToString(tag.Key) == bakery.TagBuildID && aws.ToString(tag.Value) == s.tags[bakery.TagBuildID] && s.tags[bakery.TagBuildID] != "" {
				if aws.ToString(g.Description) != tempGroupDescription || len(g.IpPermissions) > 0 {
					return "", fmt.Errorf("security group %s (%q) carries this build's tag but not what the build made (description %q, %d ingress rules): someone else made it; it is left untouched",
						aws.ToString(g.GroupId), s.name, aws.ToString(g.Description), len(g.IpPermissions))
				}
				return aws.ToString(g.GroupId), nil
			}
		}
	}
	return "", fmt.Errorf("security group %q already exists in %s and is not this build's: delete it, or set `security_group_ids`", s.name, vpc)
}

func (s *stepSecurityGroup) Cleanup(state multistep.StateBag) {
	if s.created == "" {
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	ui.Say(fmt.Sprintf("Deleting temporary security group %s...", s.created))
	poll := s.poll
	poll.Attempts = 0 // cleanup is bounded by time only, so that the group is not left behind
	if poll.Timeout == 0 || poll.Timeout > cleanupTimeout {
		poll.Timeout = cleanupTimeout
	}
	// EC2 refuses while a network interface still uses the group, which
	// lasts a little after the instance is terminated.
	err := bakery.Wait(ctx, ui.Say, "security group "+s.created+" to be released", poll, func(ctx context.Context) (bool, string, error) {
		_, err := s.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(s.created)})
		switch apiErrorCode(err) {
		case "":
			return true, "deleted", nil
		case "InvalidGroup.NotFound":
			return true, "already gone", nil
		case "DependencyViolation":
			return false, "in use", nil
		default:
			return false, "", err
		}
	})
	if err != nil {
		cleanupFailed(ui, "temporary security group", s.created, "aws ec2 delete-security-group --group-id "+s.created, err)
		return
	}
	_ = s.journal.Forget(s.created)
	s.created = ""
}

// temporary: no groups named or filtered, so the build makes its own.
func (s *stepSecurityGroup) temporary() bool { return len(s.ids) == 0 && s.filter.Empty() }

func (s *stepSecurityGroup) awsCalls() []awsCall {
	calls := describe("ec2:DescribeSecurityGroups")
	calls[0].check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{DryRun: dryRun})
		return err
	}
	if !s.temporary() {
		return calls
	}
	vpc := "vpc/*"
	if s.vpcID != "" && bakery.Known(s.vpcID) {
		vpc = "vpc/" + s.vpcID
	}
	change := []Grant{{Sid: "ChangeOwnSecurityGroup", EC2: []string{"security-group/*"}, Tagged: ResourceTagged}}
	calls = append(calls,
		awsCall{action: "ec2:CreateSecurityGroup", grants: []Grant{
			{Sid: "CreateTaggedSecurityGroup", EC2: []string{"security-group/*"}, Tagged: RequestTagged},
			{Sid: "CreateSecurityGroupInVpc", EC2: []string{vpc}}},
			check: func(ctx context.Context) error {
				in := &ec2.CreateSecurityGroupInput{DryRun: dryRun, GroupName: aws.String(placeholderName),
					Description: aws.String("permission check"), TagSpecifications: s.written.of(s.tags).Spec(types.ResourceTypeSecurityGroup)}
				if s.vpcID != "" {
					in.VpcId = aws.String(s.vpcID)
				}
				_, err := s.ec2.CreateSecurityGroup(ctx, in)
				return err
			}},
		awsCall{action: "ec2:CreateTags", partOf: "ec2:CreateSecurityGroup", grants: []Grant{tagOnCreate("CreateSecurityGroup", "security-group/*")}},
	)
	if s.tunnel != interfaceSessionManager { // with Session Manager the group admits nothing
		calls = append(calls, awsCall{action: "ec2:AuthorizeSecurityGroupIngress", grants: change, check: func(ctx context.Context) error {
			_, err := s.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{DryRun: dryRun, GroupId: aws.String(placeholderGroup),
				IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
					IpRanges: []types.IpRange{{CidrIp: aws.String("192.0.2.0/32")}}}}})
			return err
		}})
	}
	return append(calls, awsCall{action: "ec2:DeleteSecurityGroup", grants: change, check: func(ctx context.Context) error {
		_, err := s.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{DryRun: dryRun, GroupId: aws.String(placeholderGroup)})
		return err
	}})
}
