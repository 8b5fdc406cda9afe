//go:build e2e

package e2e_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// runTemplate builds testdata/network/<name> with the bake's variables and
// more environment; like bake.run, for the network templates.
func (b *bake) runTemplate(name string, env ...string) (string, error) {
	b.t.Helper()
	b.dir, b.env = filepath.Join("testdata/network", name), env
	return b.run()
}

func tagSpec(rt types.ResourceType, tags map[string]string) []types.TagSpecification {
	if len(tags) == 0 {
		return nil // EC2 refuses a tag specification without tags
	}
	spec := types.TagSpecification{ResourceType: rt}
	for k, v := range tags {
		spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return []types.TagSpecification{spec}
}

// TestE2EVpcSubnetAndSecurityGroupFilters: a VPC and subnets chosen by tag,
// the most free of the matching subnets, and the existing groups the filter
// selects; checked on the instance the bake launched.
func TestE2EVpcSubnetAndSecurityGroupFilters(t *testing.T) {
	client := ec2Client(t)
	ctx := context.Background()
	b := newBake(t, "true")
	class := "build-" + testbed.RandomHex(3)

	mkVpc := func(cidr string, tags map[string]string) string {
		out, err := client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr), TagSpecifications: tagSpec(types.ResourceTypeVpc, tags)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Vpc.VpcId)
	}
	mkSubnet := func(vpc, cidr, az string, tags map[string]string) string {
		out, err := client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr),
			AvailabilityZone: aws.String(az), TagSpecifications: tagSpec(types.ResourceTypeSubnet, tags)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Subnet.SubnetId)
	}
	mkGroup := func(vpc, name string, tags map[string]string) string {
		out, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("e2e"),
			VpcId: aws.String(vpc), TagSpecifications: tagSpec(types.ResourceTypeSecurityGroup, tags)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.GroupId)
	}
	buildVpc := mkVpc("10.50.0.0/16", map[string]string{"Class": class})
	otherVpc := mkVpc("10.60.0.0/16", map[string]string{"Class": "other"})
	small := mkSubnet(buildVpc, "10.50.1.0/26", "us-east-1a", map[string]string{"Class": class})
	big := mkSubnet(buildVpc, "10.50.2.0/24", "us-east-1b", map[string]string{"Class": class})
	untagged := mkSubnet(buildVpc, "10.50.16.0/20", "us-east-1c", nil) // the most free, but not selected by the filter
	elsewhere := mkSubnet(otherVpc, "10.60.0.0/20", "us-east-1a", map[string]string{"Class": class})
	groupA := mkGroup(buildVpc, "e2e-a", map[string]string{"Class": class})
	groupB := mkGroup(buildVpc, "e2e-b", map[string]string{"Class": class})
	decoy := mkGroup(otherVpc, "e2e-elsewhere", map[string]string{"Class": class}) // right tag, wrong VPC
	t.Logf("VPC %s: subnets %s (/26), %s (/24), %s (untagged /20); groups %s %s. Other VPC %s: subnet %s, group %s",
		buildVpc, small, big, untagged, groupA, groupB, otherVpc, elsewhere, decoy)

	b.vars = map[string]any{"class": class}
	out, err := b.runTemplate("filters")
	if err != nil {
		t.Fatalf("packer build: %v", err)
	}
	if !strings.Contains(out, fmt.Sprintf("Network: VPC %s, subnet %s (us-east-1b)", buildVpc, big)) {
		t.Errorf("the build did not say it chose VPC %s and subnet %s", buildVpc, big)
	}

	instances := buildInstances(t, client)
	if len(instances) != 1 {
		t.Fatalf("%d build instances, want 1", len(instances))
	}
	inst := instances[0]
	if got := aws.ToString(inst.VpcId); got != buildVpc {
		t.Errorf("instance in VPC %s, want %s (the one vpc_filter selects)", got, buildVpc)
	}
	if got := aws.ToString(inst.SubnetId); got != big {
		t.Errorf("instance in subnet %s, want %s (the most free subnet subnet_filter selects)", got, big)
	}
	var sgs []string
	for _, g := range inst.SecurityGroups {
		sgs = append(sgs, aws.ToString(g.GroupId))
	}
	slices.Sort(sgs)
	want := []string{groupA, groupB}
	slices.Sort(want)
	if !slices.Equal(sgs, want) {
		t.Errorf("instance security groups %v, want %v (the filter's, in the build VPC)", sgs, want)
	}
	groups, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"packer_bakery_*"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups.SecurityGroups) != 0 {
		t.Errorf("a temporary security group exists: %s", aws.ToString(groups.SecurityGroups[0].GroupId))
	}
	if len(imagesNamed(t, client, b.amiName)) != 1 {
		t.Errorf("no AMI named %s", b.amiName)
	}
	b.assertNoSecrets(out)
}

// TestE2ESourcePublicIP: the temporary group admits the communicator port
// from the address the lookup service answers, as a /32, and from nowhere
// else. The service is a loopback server of the test's; the bake waits in
// its provisioner until the test has seen the rule through EC2.
func TestE2ESourcePublicIP(t *testing.T) {
	client := ec2Client(t)
	const publicIP = "198.51.100.77"
	lookups := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lookups <- r.Method + " " + r.URL.Path
		fmt.Fprintln(w, publicIP)
	}))
	defer srv.Close()

	gate, err := os.MkdirTemp("", "bakery-e2e-gate-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(gate)
	if err := os.Chmod(gate, 0o755); err != nil { // the provisioner runs as ec2-user
		t.Fatal(err)
	}
	open := filepath.Join(gate, "open")
	b := newBake(t, fmt.Sprintf("for i in $(seq 1 600); do [ -e %s ] && exit 0; sleep 0.1; done; echo gate never opened; exit 1", open))

	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := b.runTemplate("public-ip", "PACKER_BAKERY_CHECKIP_URL_FOR_TESTS="+srv.URL)
		done <- result{out, err}
	}()

	var rule *types.IpPermission
	var groupID string
	deadline := time.After(3 * time.Minute)
wait:
	for {
		select {
		case r := <-done:
			t.Fatalf("the bake ended before the test saw its temporary group's rule: %v\n%s", r.err, r.out)
		case <-deadline:
			t.Fatal("no temporary security group with a rule appeared")
		case <-time.After(200 * time.Millisecond):
		}
		out, err := client.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
			Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"packer_bakery_*"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out.SecurityGroups {
			if len(g.IpPermissions) > 0 {
				rule, groupID = &g.IpPermissions[0], aws.ToString(g.GroupId)
				if len(g.IpPermissions) != 1 {
					t.Errorf("group %s has %d rules, want 1", groupID, len(g.IpPermissions))
				}
				break wait
			}
		}
	}
	if err := os.WriteFile(open, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("packer build: %v", r.err)
	}

	var cidrs []string
	for _, ipr := range rule.IpRanges {
		cidrs = append(cidrs, aws.ToString(ipr.CidrIp))
	}
	if !slices.Equal(cidrs, []string{publicIP + "/32"}) || len(rule.Ipv6Ranges) != 0 {
		t.Errorf("group %s admits %v %v, want only %s/32", groupID, cidrs, rule.Ipv6Ranges, publicIP)
	}
	if aws.ToInt32(rule.FromPort) != int32(suite.Bed.SSHPort) || aws.ToInt32(rule.ToPort) != int32(suite.Bed.SSHPort) {
		t.Errorf("rule covers ports %d-%d, want the communicator port %d", aws.ToInt32(rule.FromPort), aws.ToInt32(rule.ToPort), suite.Bed.SSHPort)
	}
	if len(lookups) != 1 {
		t.Errorf("the lookup service was asked %d times, want once", len(lookups))
	}
	if !strings.Contains(r.out, "public IP address is "+publicIP) {
		t.Error("the build did not say which address it admits")
	}
	assertNothingLeft(t, client)
	b.assertNoSecrets(r.out)
}

// TestE2EBastion: the build reaches the instance through a bastion. The
// test-bed's sshd is both: it logs the bastion's key, which only the
// bastion login uses, and the SDK logs the tunnel.
func TestE2EBastion(t *testing.T) {
	client := ec2Client(t)
	ctx := context.Background()
	b := newBake(t, "true")

	// The bastion's own key pair, authorised on the test-bed because a
	// running instance (the bastion) names it.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "bastion_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyName := "bastion-" + testbed.RandomHex(3)
	if _, err := client.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String(keyName), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)}); err != nil {
		t.Fatal(err)
	}
	run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(newestSourceAMI(t, client)), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String(keyName)})
	if err != nil {
		t.Fatal(err)
	}
	bastion := aws.ToString(run.Instances[0].InstanceId)

	sshdLog := filepath.Join(suite.Bed.Dir, "sshd.log")
	before, err := os.ReadFile(sshdLog)
	if err != nil {
		t.Fatal(err)
	}
	b.vars = map[string]any{"bastion_key_file": keyFile}
	out, err := b.runTemplate("bastion")
	if err != nil {
		t.Fatalf("packer build: %v", err)
	}

	after, err := os.ReadFile(sshdLog)
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(sshPub)
	var bastionLogins int
	for _, line := range strings.Split(string(after[len(before):]), "\n") {
		if strings.Contains(line, "Accepted publickey for ec2-user") && strings.Contains(line, fp) {
			bastionLogins++
		}
	}
	if bastionLogins == 0 {
		t.Errorf("sshd logged no login with the bastion key %s during the build:\n%s", fp, after[len(before):])
	}
	log, err := os.ReadFile(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("%s:%d", suite.Bed.SSHHost, suite.Bed.SSHPort)
	if want := "through bastion at " + addr; !strings.Contains(string(log), want) {
		t.Errorf("PACKER_LOG does not say %q", want)
	}
	if len(imagesNamed(t, client, b.amiName)) != 1 {
		t.Errorf("no AMI named %s", b.amiName)
	}

	if _, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{bastion}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(keyName)}); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, client)
	b.assertNoSecrets(out)
}

// TestE2ESecurityGroupID: amazon-ebs's singular `security_group_id` is
// folded into security_group_ids: the instance gets exactly that group and
// no temporary group is made.
func TestE2ESecurityGroupID(t *testing.T) {
	client := ec2Client(t)
	ctx := context.Background()
	b := newBake(t, "true")
	vpcs, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("no default VPC: %v", err)
	}
	g, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("e2e-existing-" + testbed.RandomHex(3)),
		Description: aws.String("e2e"), VpcId: vpcs.Vpcs[0].VpcId})
	if err != nil {
		t.Fatal(err)
	}
	group := aws.ToString(g.GroupId)

	b.vars = map[string]any{"security_group_id": group}
	out, err := b.runTemplate("security-group-id")
	if err != nil {
		t.Fatalf("packer build: %v", err)
	}
	instances := buildInstances(t, client)
	if len(instances) != 1 {
		t.Fatalf("%d build instances, want 1", len(instances))
	}
	var sgs []string
	for _, sg := range instances[0].SecurityGroups {
		sgs = append(sgs, aws.ToString(sg.GroupId))
	}
	if !slices.Equal(sgs, []string{group}) {
		t.Errorf("instance security groups %v, want [%s]", sgs, group)
	}
	if strings.Contains(out, "Creating temporary security group") {
		t.Error("a temporary security group was created")
	}
	if _, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, client)
	b.assertNoSecrets(out)
}

// TestE2ECapacityFallback: EC2 (the fault proxy) has no t3.micro anywhere
// and offers nothing in the given subnet: the build tries t3.micro in every
// subnet of the VPC, then t3a.micro in the given subnet, and launches the
// second type in the second subnet, tagged like any launch; nothing is left.
func TestE2ECapacityFallback(t *testing.T) {
	client := ec2Client(t)
	ctx := context.Background()
	vpcs, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("no default VPC: %v", err)
	}
	out, err := client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{aws.ToString(vpcs.Vpcs[0].VpcId)}}}})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for _, s := range out.Subnets {
		subnets = append(subnets, aws.ToString(s.SubnetId))
	}
	slices.Sort(subnets)
	if len(subnets) < 2 {
		t.Fatalf("the default VPC has %d subnets, the test needs 2", len(subnets))
	}
	first, second := subnets[0], subnets[1]
	proxy := withFaults(t, faultproxy.Config{Capacity: faultproxy.Capacity{InstanceTypes: []string{"t3.micro"}, SubnetIDs: []string{first}}})

	b := newBake(t, "true")
	b.vars = map[string]any{"subnet_id": first}
	output, err := b.runTemplate("capacity")
	if err != nil {
		t.Fatalf("packer build: %v", err)
	}
	var tried []string
	for _, req := range proxy.Requests("ec2", "RunInstances") {
		if req.Get("DryRun") == "true" {
			continue
		}
		attempt := req.Get("InstanceType") + " " + req.Get("SubnetId")
		if len(tried) == 0 || tried[len(tried)-1] != attempt { // a retried call counts once
			tried = append(tried, attempt)
		}
	}
	var want []string
	for _, s := range subnets {
		want = append(want, "t3.micro "+s)
	}
	want = append(want, "t3a.micro "+first, "t3a.micro "+second)
	if !slices.Equal(tried, want) {
		t.Errorf("launches tried:\n  %s\nwant:\n  %s", strings.Join(tried, "\n  "), strings.Join(want, "\n  "))
	}
	if !strings.Contains(output, "EC2 has no capacity for t3.micro in "+first+" (InsufficientInstanceCapacity)") ||
		!strings.Contains(output, "EC2 has no capacity for t3a.micro in "+first+" (Unsupported)") {
		t.Error("the build does not say why it moved on")
	}
	instances := buildInstances(t, client)
	if len(instances) != 1 {
		t.Fatalf("%d build instances, want 1", len(instances))
	}
	inst := instances[0]
	if inst.InstanceType != "t3a.micro" || aws.ToString(inst.SubnetId) != second {
		t.Errorf("the instance is a %s in %s, want t3a.micro in %s", inst.InstanceType, aws.ToString(inst.SubnetId), second)
	}
	tags := map[string]string{}
	for _, tag := range inst.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if tags["Purpose"] != "capacity-fallback" || tags["bakery:build-id"] == "" {
		t.Errorf("the instance's tags %v lack run_tags or the build's id", tags)
	}
	if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 1 {
		t.Errorf("%d AMIs named %s, want 1", len(imgs), b.amiName)
	}
	assertNothingLeft(t, client)
	b.assertNoSecrets(output)
}
