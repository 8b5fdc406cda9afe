package iampolicy

import (
	"reflect"
	"slices"
	"testing"
)

// OpenTunnel is granted with the condition keys AWS documents for it
// (Service Authorization Reference, EC2 Instance Connect): remotePort is
// `ssh_port`, maxTunnelDuration at most the hour the client asks for, and
// only the endpoint the template names. privateIpAddress is the
// instance's, unknown before launch, so it is not set (docs/iam-policy.md).
func TestOpenTunnelConditions(t *testing.T) {
	p := Generate(prepared(t, map[string]interface{}{"ssh_interface": "instance_connect_endpoint", "ssh_port": 2222,
		"instance_connect_endpoint_id": "eice-0123456789abcdef0"}), NewScope("111122223333", "eu-west-1"))
	s := statement(t, p, "OpenTunnelToSSH")
	if !slices.Equal(s.Action, []string{"ec2-instance-connect:OpenTunnel"}) {
		t.Errorf("actions %v", s.Action)
	}
	if want := []string{"arn:aws:ec2:eu-west-1:111122223333:instance-connect-endpoint/eice-0123456789abcdef0"}; !slices.Equal(s.Resource, want) {
		t.Errorf("resource %v, want %v", s.Resource, want)
	}
	want := Conditions{
		"NumericEquals":         {"ec2-instance-connect:remotePort": {"2222"}},
		"NumericLessThanEquals": {"ec2-instance-connect:maxTunnelDuration": {"3600"}},
	}
	if !reflect.DeepEqual(s.Condition, want) {
		t.Errorf("conditions\n got %v\nwant %v", s.Condition, want)
	}
	// Without a named endpoint: any endpoint of the account in the region,
	// with the same conditions (port 22 by default).
	p = Generate(prepared(t, map[string]interface{}{"ssh_interface": "instance_connect_endpoint"}), NewScope("111122223333", "eu-west-1"))
	s = statement(t, p, "OpenTunnelToSSH")
	if got := s.Condition["NumericEquals"]["ec2-instance-connect:remotePort"]; !slices.Equal(got, []string{"22"}) {
		t.Errorf("remotePort %v, want [22]", got)
	}
	if want := []string{"arn:aws:ec2:eu-west-1:111122223333:instance-connect-endpoint/*"}; !slices.Equal(s.Resource, want) {
		t.Errorf("resource %v, want %v", s.Resource, want)
	}
}

// Session Manager: kms:GenerateDataKey for a KMS-encrypted session's data
// key, on keys of the account in the region, only with exactly the
// encryption context the agent decrypts with, for an instance target.
func TestSessionManagerDataKeyGrant(t *testing.T) {
	p := Generate(prepared(t, map[string]interface{}{"ssh_interface": "session_manager"}), NewScope("111122223333", "eu-west-1"))
	s := statement(t, p, "SessionManagerDataKey")
	if !slices.Equal(s.Action, []string{"kms:GenerateDataKey"}) {
		t.Errorf("actions %v", s.Action)
	}
	if want := []string{"arn:aws:kms:eu-west-1:111122223333:key/*"}; !slices.Equal(s.Resource, want) {
		t.Errorf("resource %v, want %v", s.Resource, want)
	}
	want := Conditions{
		"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": {"aws:ssm:SessionId", "aws:ssm:TargetId"}},
		"Null":                      {"kms:EncryptionContext:aws:ssm:SessionId": {"false"}, "kms:EncryptionContext:aws:ssm:TargetId": {"false"}},
		"StringLike":                {"kms:EncryptionContext:aws:ssm:TargetId": {"i-*"}},
	}
	if !reflect.DeepEqual(s.Condition, want) {
		t.Errorf("conditions\n got %v\nwant %v", s.Condition, want)
	}
	for _, a := range Generate(prepared(t, map[string]interface{}{"ssh_interface": "instance_connect_endpoint"}), NewScope("111122223333", "eu-west-1")).Actions() {
		if a == "kms:GenerateDataKey" {
			t.Error("kms:GenerateDataKey granted without Session Manager")
		}
	}
}
