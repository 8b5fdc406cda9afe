package iampolicy

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
)

func prepared(t *testing.T, over map[string]interface{}) *ebs.Config {
	t.Helper()
	raw := map[string]interface{}{
		"source_ami":    "ami-0123456789abcdef0",
		"instance_type": "t3.micro",
		"ami_name":      "bakery-test-1",
		"ssh_username":  "ec2-user",
		"region":        "eu-west-1",
	}
	for k, v := range over {
		raw[k] = v
	}
	var cfg ebs.Config
	if _, err := cfg.Prepare(raw); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return &cfg
}

func statement(t *testing.T, p Policy, sid string) Statement {
	t.Helper()
	for _, s := range p.Statement {
		if s.Sid == sid {
			return s
		}
	}
	t.Fatalf("no statement %s in\n%s", sid, p.JSON())
	return Statement{}
}

func hasStatement(p Policy, sid string) bool {
	return slices.ContainsFunc(p.Statement, func(s Statement) bool { return s.Sid == sid })
}

func TestPlainBakePolicy(t *testing.T) {
	p := Generate(prepared(t, nil), NewScope("111122223333", "eu-west-1"))
	want := []string{
		"ec2:AuthorizeSecurityGroupIngress", "ec2:CreateImage", "ec2:CreateSecurityGroup", "ec2:CreateTags",
		"ec2:DeleteKeyPair", "ec2:DeleteSecurityGroup", "ec2:DeleteSnapshot", "ec2:DeregisterImage",
		"ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeKeyPairs", "ec2:DescribeRegions",
		"ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:ImportKeyPair",
		"ec2:RunInstances", "ec2:StopInstances", "ec2:TerminateInstances", "iam:GetRole",
	}
	if got := p.Actions(); !slices.Equal(got, want) {
		t.Errorf("actions:\n got %v\nwant %v", got, want)
	}
	for _, s := range p.Statement {
		if s.Sid == "ReadOwnRolePath" { // the holder's own role, for its path (ownerPrincipal)
			if !slices.Equal(s.Action, []string{"iam:GetRole"}) || !slices.Equal(s.Resource, []string{"${aws:PrincipalArn}"}) {
				t.Errorf("statement ReadOwnRolePath grants %v on %v, want iam:GetRole on the holder only", s.Action, s.Resource)
			}
			continue
		}
		for _, a := range s.Action {
			if strings.HasPrefix(a, "iam:") || strings.HasPrefix(a, "kms:") || strings.Contains(a, "*") {
				t.Errorf("statement %s grants %s, which a plain bake never needs", s.Sid, a)
			}
		}
		for _, r := range s.Resource {
			if r != "*" && !strings.HasPrefix(r, "arn:aws:ec2:eu-west-1:111122223333:") && !strings.HasPrefix(r, "arn:aws:ec2:eu-west-1::") {
				t.Errorf("statement %s: resource %s is outside the region and account", s.Sid, r)
			}
		}
		if slices.Contains(s.Resource, "*") && s.Condition["StringEquals"]["aws:RequestedRegion"] == nil && s.Sid != "DecodeAuthorizationMessages" {
			t.Errorf("statement %s allows every resource in every region", s.Sid)
		}
	}
	// Destructive calls only on what the build tagged.
	for _, sid := range []string{"StopOwnInstance", "TerminateOwnInstance", "DeleteOwnKeyPair", "ChangeOwnSecurityGroup", "ImageFromOwnInstance"} {
		if got := statement(t, p, sid).Condition["Null"]["aws:ResourceTag/bakery:build-id"]; !slices.Equal(got, []string{"false"}) {
			t.Errorf("%s is not conditioned on the build's tag: %v", sid, got)
		}
	}
	for _, sid := range []string{"LaunchTaggedInstance", "ImportTaggedKeyPair", "CreateTaggedSecurityGroup"} {
		if got := statement(t, p, sid).Condition["Null"]["aws:RequestTag/bakery:build-id"]; !slices.Equal(got, []string{"false"}) {
			t.Errorf("%s does not require the build's tag in the request: %v", sid, got)
		}
	}
	if got := statement(t, p, "LaunchFrom").Resource; !slices.Contains(got, "arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0") || slices.Contains(got, "arn:aws:ec2:eu-west-1::image/*") {
		t.Errorf("LaunchFrom should name only the source AMI: %v", got)
	}
	if got := statement(t, p, "TagOnCreate").Condition["StringEquals"]["ec2:CreateAction"]; !slices.Equal(got, []string{"CreateImage", "CreateSecurityGroup", "ImportKeyPair", "RunInstances"}) {
		t.Errorf("TagOnCreate create actions: %v", got)
	}
	// CreateImage tags the AMI and its snapshots (bakery:principal):
	// EC2 authorises that as CreateTags on both.
	for _, r := range []string{"arn:aws:ec2:eu-west-1::image/*", "arn:aws:ec2:eu-west-1::snapshot/*"} {
		if got := statement(t, p, "TagOnCreate").Resource; !slices.Contains(got, r) {
			t.Errorf("TagOnCreate does not cover %s: %v", r, got)
		}
	}
}

func TestOptionsChangeThePolicy(t *testing.T) {
	cases := []struct {
		name      string
		over      map[string]interface{}
		with      []string // statements present
		without   []string // statements absent
		noActions []string
	}{
		{name: "own security groups", over: map[string]interface{}{"security_group_ids": []string{"sg-0123456789abcdef0"}},
			without: []string{"CreateTaggedSecurityGroup", "ChangeOwnSecurityGroup"}, noActions: []string{"ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:AuthorizeSecurityGroupIngress"}},
		{name: "own key pair", over: map[string]interface{}{"ssh_keypair_name": "mine", "ssh_agent_auth": true},
			without: []string{"ImportTaggedKeyPair", "DeleteOwnKeyPair"}, noActions: []string{"ec2:ImportKeyPair", "ec2:DeleteKeyPair", "ec2:DescribeKeyPairs"}},
		{name: "snapshot tags", over: map[string]interface{}{"snapshot_tags": map[string]string{"Team": "x"}}, with: []string{"TagSnapshots"}},
		{name: "no snapshot tags", without: []string{"TagSnapshots"}},
		{name: "skip region validation", over: map[string]interface{}{"skip_region_validation": true}, noActions: []string{"ec2:DescribeRegions"}},
		{name: "security group filter", over: map[string]interface{}{"security_group_filter": map[string]interface{}{"filters": map[string]string{"tag:Role": "packer"}}},
			without: []string{"CreateTaggedSecurityGroup", "ChangeOwnSecurityGroup"}, noActions: []string{"ec2:CreateSecurityGroup"}},
		{name: "disable_stop_instance", over: map[string]interface{}{"disable_stop_instance": true},
			without: []string{"StopOwnInstance"}, noActions: []string{"ec2:StopInstances"}},
		{name: "unencrypted volumes", over: map[string]interface{}{"launch_block_device_mappings": []map[string]interface{}{{"device_name": "/dev/xvdb", "volume_size": 8}}},
			without: []string{"UseVolumeKeys", "UseVolumeKeysByAlias"}, noActions: []string{"kms:CreateGrant"}},
		{name: "decode messages", over: map[string]interface{}{"decode_authorization_messages": true}, with: []string{"DecodeAuthorizationMessages"}},
		{name: "no decode", without: []string{"DecodeAuthorizationMessages"}, noActions: []string{"sts:DecodeAuthorizationMessage"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Generate(prepared(t, tc.over), NewScope("111122223333", "eu-west-1"))
			for _, sid := range tc.with {
				statement(t, p, sid)
			}
			for _, sid := range tc.without {
				if hasStatement(p, sid) {
					t.Errorf("statement %s should not be there:\n%s", sid, p.JSON())
				}
			}
			for _, a := range tc.noActions {
				if slices.Contains(p.Actions(), a) {
					t.Errorf("action %s should not be granted", a)
				}
			}
		})
	}
}

func TestSnapshotTagKeysAreTheConfiguredOnes(t *testing.T) {
	p := Generate(prepared(t, map[string]interface{}{"snapshot_tags": map[string]string{"b": "1", "a": "2"}}), NewScope("111122223333", "eu-west-1"))
	if got := statement(t, p, "TagSnapshots").Condition["ForAllValues:StringEquals"]["aws:TagKeys"]; !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("tag keys %v", got)
	}
}

func TestPartitionFromRegion(t *testing.T) {
	p := Generate(prepared(t, map[string]interface{}{"region": "cn-north-1"}), NewScope("111122223333", "cn-north-1"))
	for _, r := range statement(t, p, "TerminateOwnInstance").Resource {
		if !strings.HasPrefix(r, "arn:aws-cn:ec2:cn-north-1:") {
			t.Errorf("resource %s not in the aws-cn partition", r)
		}
	}
}

func TestWithout(t *testing.T) {
	p := Generate(prepared(t, nil), NewScope("111122223333", "eu-west-1"))
	q := p.Without("ec2:RunInstances")
	if slices.Contains(q.Actions(), "ec2:RunInstances") {
		t.Error("RunInstances still there")
	}
	if len(q.Actions()) != len(p.Actions())-1 {
		t.Errorf("Without removed more than one action: %v", q.Actions())
	}
	if hasStatement(q, "LaunchTaggedInstance") {
		t.Error("a statement with no action left should be dropped")
	}
}

func TestEveryRuleIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/iam-policy.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, over := range []map[string]interface{}{
		nil,
		{"snapshot_tags": map[string]string{"a": "b"}, "decode_authorization_messages": true},
		{"launch_block_device_mappings": []map[string]interface{}{
			{"device_name": "/dev/xvdb", "encrypted": true, "kms_key_id": "alias/k"},
			{"device_name": "/dev/xvdc", "encrypted": true, "kms_key_id": "1234abcd-12ab-34cd-56ef-1234567890ab"}}},
		{"temporary_iam_instance_profile_policy_document": tempProfileDocument},
		{"iam_instance_profile": "builder"},
		amiEverything,
		{"spot_price": "auto"},
		{"ami_test": map[string]interface{}{"inline": []string{"true"}}},
	} {
		for _, s := range Generate(prepared(t, over), NewScope("111122223333", "eu-west-1")).Statement {
			if !seen[s.Sid] && !strings.Contains(string(doc), "`"+s.Sid+"`") {
				t.Errorf("docs/iam-policy.md does not explain statement `%s`", s.Sid)
			}
			seen[s.Sid] = true
		}
	}
}

// amiEverything sets every option of the AMI's distribution.
var amiEverything = map[string]interface{}{"ami_regions": []string{"us-west-2"}, "encrypt_boot": true, "kms_key_id": "alias/build",
	"region_kms_key_ids": map[string]string{"us-west-2": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
	"ami_users":          []string{"444455556666"}, "snapshot_users": []string{"444455556666"}, "deprecate_at": time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339),
	"ena_support": true, "imds_support": "v2.0", "tags": map[string]string{"Team": "x"}}

// tempProfileDocument is a valid temporary_iam_instance_profile_policy_document.
var tempProfileDocument = map[string]interface{}{"Version": "2012-10-17",
	"Statement": []map[string]interface{}{{"Effect": "Allow", "Action": []string{"s3:GetObject"}, "Resource": []string{"arn:aws:s3:::b/*"}}}}

// notDryRunnable are granted actions the preflight cannot ask EC2 about.
// KMS is asked by EC2 on the build's behalf: no call of the build's own.
// IAM has no DryRun: creating calls cannot be asked without creating, and
// iam:PassRole is asked by EC2 (the launch's dry run, on AWS).
var notDryRunnable = []string{"sts:DecodeAuthorizationMessage", "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
	"kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo",
	"iam:CreateRole", "iam:TagRole", "iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:PassRole", "iam:CreateServiceLinkedRole",
	"iam:PutRolePolicy", "iam:AddRoleToInstanceProfile"}

func TestPreflightChecksWhatThePolicyGrants(t *testing.T) {
	for _, over := range []map[string]interface{}{
		nil,
		{"snapshot_tags": map[string]string{"a": "b"}, "decode_authorization_messages": true},
		{"security_group_ids": []string{"sg-0123456789abcdef0"}, "ssh_keypair_name": "k", "ssh_agent_auth": true, "skip_region_validation": true},
		{"communicator": "none"},
		{"temporary_iam_instance_profile_policy_document": tempProfileDocument},
		{"iam_instance_profile": "builder"},
		{"iam_instance_profile": "builder", "skip_profile_validation": true},
		amiEverything,
		{"ami_regions": []string{"us-west-2"}, "tags": map[string]string{"a": "b"}},
		{"snapshot_groups": []string{"all"}, "sriov_support": true},
		{"spot_price": "0.05", "spot_tags": map[string]string{"Team": "x"}},
		{"disable_stop_instance": true, "launch_block_device_mappings": []map[string]interface{}{
			{"device_name": "/dev/xvdb", "volume_size": 8, "encrypted": true, "kms_key_id": "alias/k"}}},
	} {
		cfg := prepared(t, over)
		var want []string
		for _, a := range Generate(cfg, NewScope("111122223333", "eu-west-1")).Actions() {
			if !slices.Contains(notDryRunnable, a) {
				want = append(want, a)
			}
		}
		got := checkedActions(cfg)
		// Reading the holder's own role (its path) is not asked: refused,
		// the build goes on with the path-less ARN (ownerPrincipal).
		if !slices.Contains(got, "iam:GetRole") {
			want = slices.DeleteFunc(want, func(a string) bool { return a == "iam:GetRole" })
		}
		if slices.Contains(got, "ec2:RunInstances") && !slices.Contains(got, "ec2:CreateTags") {
			// Tagging on create is authorised as part of the create call
			// (ec2:CreateAction): the create calls' dry runs, made with
			// the build's tags, check it on AWS.
			got = append(got, "ec2:CreateTags")
			sort.Strings(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("options %v: the preflight checks\n  %v\nthe policy grants\n  %v", over, got, want)
		}
	}
}

func TestVolumeKeys(t *testing.T) {
	mapping := func(device, key string) map[string]interface{} {
		return map[string]interface{}{"device_name": device, "volume_size": 8, "encrypted": true, "kms_key_id": key}
	}
	p := Generate(prepared(t, map[string]interface{}{
		"launch_block_device_mappings": []map[string]interface{}{mapping("/dev/xvdb", "1234abcd-12ab-34cd-56ef-1234567890ab"), mapping("/dev/xvdc", "alias/launch")},
		"ami_block_device_mappings":    []map[string]interface{}{mapping("/dev/xvdb", "arn:aws:kms:eu-west-1:444455556666:key/0000abcd-12ab-34cd-56ef-1234567890ab")},
	}), NewScope("111122223333", "eu-west-1"))
	byID := statement(t, p, "UseVolumeKeys")
	want := []string{"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:eu-west-1:444455556666:key/0000abcd-12ab-34cd-56ef-1234567890ab"}
	if !slices.Equal(byID.Resource, want) {
		t.Errorf("key resources %v, want %v", byID.Resource, want)
	}
	if got := byID.Condition["StringEquals"]["kms:ViaService"]; !slices.Equal(got, []string{"ec2.eu-west-1.amazonaws.com"}) {
		t.Errorf("keys usable other than through EC2: %v", got)
	}
	byAlias := statement(t, p, "UseVolumeKeysByAlias")
	if got := byAlias.Condition["ForAnyValue:StringEquals"]["kms:ResourceAliases"]; !slices.Equal(got, []string{"alias/launch"}) {
		t.Errorf("alias condition %v", got)
	}
	for _, a := range byID.Action {
		if a == "kms:*" || !strings.HasPrefix(a, "kms:") {
			t.Errorf("volume keys grant %s", a)
		}
	}
}

func TestLaunchFromSnapshotAndHost(t *testing.T) {
	p := Generate(prepared(t, map[string]interface{}{
		"launch_block_device_mappings": []map[string]interface{}{{"device_name": "/dev/xvdb", "snapshot_id": "snap-0123456789abcdef0"}},
		"placement":                    map[string]interface{}{"host_id": "h-0123456789abcdef0"},
	}), NewScope("111122223333", "eu-west-1"))
	res := statement(t, p, "LaunchFrom").Resource
	for _, want := range []string{"arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0", "arn:aws:ec2:eu-west-1:111122223333:dedicated-host/h-0123456789abcdef0"} {
		if !slices.Contains(res, want) {
			t.Errorf("LaunchFrom lacks %s: %v", want, res)
		}
	}
}

func TestUnknownRegion(t *testing.T) {
	p := Generate(prepared(t, map[string]interface{}{
		"launch_block_device_mappings": []map[string]interface{}{{"device_name": "/dev/xvdb", "encrypted": true, "kms_key_id": "alias/k"}},
	}), NewScope("111122223333", "*"))
	if c := statement(t, p, "Describe").Condition; c != nil {
		t.Errorf("with the region unknown, Describe must not be limited to a region named \"*\": %v", c)
	}
	if got := statement(t, p, "UseVolumeKeysByAlias").Condition["StringLike"]["kms:ViaService"]; !slices.Equal(got, []string{"ec2.*.amazonaws.com"}) {
		t.Errorf("kms:ViaService with the region unknown: %v", got)
	}
	if got := statement(t, p, "TerminateOwnInstance").Resource; !slices.Equal(got, []string{"arn:aws:ec2:*:111122223333:instance/*"}) {
		t.Errorf("resources with the region unknown: %v", got)
	}
}

// checkedActions are the actions the permission check of cfg's build asks.
func checkedActions(cfg *ebs.Config) []string {
	var out []string
	for _, p := range ebs.Permissions(cfg) {
		if p.Checked && !slices.Contains(out, p.Action) {
			out = append(out, p.Action)
		}
	}
	sort.Strings(out)
	return out
}

// The destructive grants ask for the build's tags on the resource; the
// build's tags mean "ours" only if the holder cannot write them on a
// resource it did not create. So every CreateTags either happens inside a
// create call (ec2:CreateAction) or cannot write a bakery:* key, save on
// resources that no grant destroys.
func TestBuildTagsOnlyAtCreation(t *testing.T) {
	for _, over := range []map[string]interface{}{
		nil,
		{"snapshot_tags": map[string]string{packerUnknownForTest: "x"}},
		{"ami_regions": []string{"us-west-2"}, "tags": map[string]string{packerUnknownForTest: "x"}},
		{"snapshot_tags": map[string]string{"bakery:build-id": "x"}},
		{"spot_price": "auto", "spot_tags": map[string]string{"Team": "x"}},
		{"spot_price": "0.05", "ami_regions": []string{"us-west-2"}, "tags": map[string]string{"a": "b"}, "snapshot_tags": map[string]string{"c": "d"}},
		{"encrypt_boot": true, "ami_regions": []string{"us-west-2"}, "tags": map[string]string{"a": "b"}},
	} {
		p := Generate(prepared(t, over), NewScope("111122223333", "eu-west-1"))
		destroyable := map[string]bool{}
		for _, s := range p.Statement {
			if !slices.ContainsFunc(s.Action, func(a string) bool { return slices.Contains(destructiveActions, a) }) {
				continue
			}
			// The temporaries carry the build's id, the product (AMI,
			// snapshots) only the holder's principal: one of the two
			// ways, the tag was given at creation.
			product := !slices.ContainsFunc(s.Resource, func(r string) bool { t := resourceType(r); return t != "image" && t != "snapshot" })
			if got := s.Condition["Null"]["aws:ResourceTag/bakery:build-id"]; !product && !slices.Equal(got, []string{"false"}) {
				t.Errorf("%v: %s destroys resources without the build's tag:\n%s", over, s.Sid, p.JSON())
			}
			if got := s.Condition["StringEquals"]["aws:ResourceTag/bakery:principal"]; !slices.Equal(got, []string{"${aws:PrincipalArn}"}) {
				t.Errorf("%v: %s destroys resources not tagged with the holder as their principal:\n%s", over, s.Sid, p.JSON())
			}
			for _, r := range s.Resource {
				destroyable[resourceType(r)] = true
			}
		}
		if !destroyable["image"] || !destroyable["snapshot"] {
			t.Errorf("%v: no grant removes the build's own AMI and snapshots (a failed build's): %v", over, destroyable)
		}
		for _, s := range p.Statement {
			if !slices.Contains(s.Action, "ec2:CreateTags") || len(s.Condition["StringEquals"]["ec2:CreateAction"]) > 0 {
				continue
			}
			if slices.Equal(s.Condition["ForAllValues:StringNotLike"]["aws:TagKeys"], []string{"bakery:*"}) {
				continue
			}
			for _, r := range s.Resource {
				if destroyable[resourceType(r)] {
					t.Errorf("%v: %s lets the holder write the build's tags on an existing %s, which a grant then destroys:\n%s",
						over, s.Sid, resourceType(r), p.JSON())
				}
			}
			if !slices.ContainsFunc(s.Resource, func(r string) bool { return strings.Contains(r, ":spot-instances-request/") }) {
				t.Errorf("%v: %s writes bakery:* tags after creation on %v", over, s.Sid, s.Resource)
			}
		}
	}
}

// destructiveActions are what the policy may do only to what its holder made.
var destructiveActions = []string{"ec2:TerminateInstances", "ec2:StopInstances", "ec2:DeleteSecurityGroup", "ec2:DeleteKeyPair",
	"ec2:DeleteLaunchTemplate", "ec2:DeleteFleets", "ec2:DeregisterImage", "ec2:DeleteSnapshot"}

// The AMI and its snapshots are the build's product, not temporaries: a
// failed build, `encrypt_boot`'s intermediate and the artifact's Destroy
// remove them, and nothing else may. Only `force_deregister` (and
// `force_delete_snapshot`) remove an AMI the build did not make, by its
// name: then, and only then, a grant of its own allows it.
func TestImagesAreRemovedOnlyByTheirMaker(t *testing.T) {
	for _, c := range []struct {
		over map[string]interface{}
		want []string // ReplaceNamedImage's actions
	}{
		{nil, nil},
		{map[string]interface{}{"ami_regions": []string{"us-west-2"}, "encrypt_boot": true}, nil},
		{map[string]interface{}{"force_deregister": true}, []string{"ec2:DeregisterImage"}},
		{map[string]interface{}{"force_deregister": true, "force_delete_snapshot": true}, []string{"ec2:DeleteSnapshot", "ec2:DeregisterImage"}},
	} {
		p := Generate(prepared(t, c.over), NewScope("111122223333", "eu-west-1"))
		var wide []string
		for _, s := range p.Statement {
			for _, a := range s.Action {
				if a != "ec2:DeregisterImage" && a != "ec2:DeleteSnapshot" {
					continue
				}
				if s.Sid == "ReplaceNamedImage" {
					wide = append(wide, a)
					continue
				}
				if got := s.Condition["StringEquals"]["aws:ResourceTag/bakery:principal"]; !slices.Equal(got, []string{"${aws:PrincipalArn}"}) {
					t.Errorf("%v: %s allows %s on any image or snapshot of the region:\n%s", c.over, s.Sid, a, p.JSON())
				}
			}
			// What the build makes, it makes in the holder's name.
			if slices.Contains(s.Action, "ec2:CreateImage") || slices.Contains(s.Action, "ec2:CopyImage") {
				if !slices.ContainsFunc(s.Resource, func(r string) bool { t := resourceType(r); return t == "image" || t == "snapshot" }) {
					continue
				}
				req, res := s.Condition["StringEquals"]["aws:RequestTag/bakery:principal"], s.Condition["StringEquals"]["aws:ResourceTag/bakery:principal"]
				if !slices.Equal(req, []string{"${aws:PrincipalArn}"}) && !slices.Equal(res, []string{"${aws:PrincipalArn}"}) {
					t.Errorf("%v: %s makes AMIs or snapshots without the holder as their principal:\n%s", c.over, s.Sid, p.JSON())
				}
			}
		}
		if !slices.Equal(wide, c.want) {
			t.Errorf("%v: ReplaceNamedImage grants %v, want %v", c.over, wide, c.want)
		}
	}
}

// packerUnknownForTest is what packer hands a variable without a value.
const packerUnknownForTest = "<unknown>"

// resourceType is "instance" of "arn:aws:ec2:eu-west-1:1111:instance/*".
func resourceType(arn string) string {
	r := arn[strings.LastIndex(arn, ":")+1:]
	if i := strings.Index(r, "/"); i >= 0 {
		return r[:i]
	}
	return r
}

// iam:PassRole reaches only the build's own roles (or the named profile's)
// and only for EC2.
func TestPassRoleOnlyToEC2AndTheBuildsRoles(t *testing.T) {
	scope := NewScope("111122223333", "eu-west-1")
	scope.ProfileRoles = map[string]string{"builder": "builder-role"}
	for role, over := range map[string]map[string]interface{}{
		"arn:aws:iam::111122223333:role/packer_bakery_*": {"temporary_iam_instance_profile_policy_document": tempProfileDocument},
		"arn:aws:iam::111122223333:role/builder-role":    {"iam_instance_profile": "builder"},
	} {
		p := Generate(prepared(t, over), scope)
		passes := 0
		for _, s := range p.Statement {
			if !slices.Contains(s.Action, "iam:PassRole") {
				continue
			}
			passes++
			if !slices.Equal(s.Resource, []string{role}) {
				t.Errorf("%s passes %v, want only %s", s.Sid, s.Resource, role)
			}
			if got := s.Condition["StringEquals"]["iam:PassedToService"]; !slices.Equal(got, []string{"ec2.amazonaws.com"}) {
				t.Errorf("%s passes roles to %v, want EC2 only", s.Sid, got)
			}
		}
		if passes == 0 {
			t.Errorf("no iam:PassRole for %v:\n%s", over, p.JSON())
		}
	}
}

// Another principal of the account that may tag could mark its own
// instance with the build's id tag (visible in the key pair's name) and
// have the holder of the policy terminate it: the key's mere presence
// must not suffice. Every grant that changes or destroys the build's
// resources asks for the holder's own ARN in bakery:principal, and every
// create grant lets the holder write only its own ARN there.
func TestDestroysOnlyWhatTheHolderMade(t *testing.T) {
	for _, over := range []map[string]interface{}{
		nil,
		{"spot_price": "auto", "spot_tags": map[string]string{"Team": "x"}},
		{"temporary_iam_instance_profile_policy_document": tempProfileDocument},
	} {
		p := Generate(prepared(t, over), NewScope("111122223333", "eu-west-1"))
		seen := 0
		for _, s := range p.Statement {
			for _, key := range []string{"aws:ResourceTag/", "aws:RequestTag/"} {
				if s.Condition["Null"][key+"bakery:build-id"] == nil {
					continue
				}
				seen++
				if got := s.Condition["StringEquals"][key+"bakery:principal"]; !slices.Equal(got, []string{"${aws:PrincipalArn}"}) {
					t.Errorf("%v: %s asks for the build's id tag (%s) but not for the holder as its principal:\n%s", over, s.Sid, key, p.JSON())
				}
			}
		}
		if seen == 0 {
			t.Errorf("%v: no statement asks for the build's tags", over)
		}
	}
}
