package ebs

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func groups(ids ...string) *ec2.DescribeSecurityGroupsOutput {
	out := &ec2.DescribeSecurityGroupsOutput{}
	for _, id := range ids {
		out.SecurityGroups = append(out.SecurityGroups, types.SecurityGroup{GroupId: aws.String(id)})
	}
	return out
}

func TestStepSecurityGroup_filter(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply *ec2.DescribeSecurityGroupsOutput
		want  []string
	}{
		{name: "one group", reply: groups("sg-build"), want: []string{"sg-build"}},
		{name: "every matching group", reply: groups("sg-a", "sg-b", "sg-c"), want: []string{"sg-a", "sg-b", "sg-c"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSecurityGroups(t) // no Create/Authorize scripted: a temporary group would fail the test
			f.DescribeGroupsCalls.Return(tt.reply, nil)
			state, ui := stateWithNetwork(t)
			step := &stepSecurityGroup{ec2: f, filter: SecurityGroupFilterOptions{Filters: map[string]string{"tag:Class": "packer, build"}}, port: 22, poll: fastPoll}

			wantContinue(t, step.Run(t.Context(), state), state, ui)

			wantFilters := map[string][]string{"tag:Class": {"packer", "build"}, "vpc-id": {"vpc-1"}}
			if got := filterMap(f.DescribeGroupsCalls.Input(t).Filters); !reflect.DeepEqual(got, wantFilters) {
				t.Errorf("DescribeSecurityGroups filters = %v, want %v", got, wantFilters)
			}
			if got := getSecurityGroupIDs(state); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("security groups = %v, want %v", got, tt.want)
			}
			if !strings.Contains(ui.Out.String(), strings.Join(tt.want, ", ")) {
				t.Errorf("user was not told the groups: %q", ui.Out.String())
			}
			step.Cleanup(state) // deletes nothing: the fake has no DeleteSecurityGroup scripted
		})
	}
}

func TestStepSecurityGroup_filterErrors(t *testing.T) {
	t.Run("no match", func(t *testing.T) {
		f := newFakeSecurityGroups(t)
		f.DescribeGroupsCalls.Return(groups(), nil)
		state, ui := stateWithNetwork(t)
		step := &stepSecurityGroup{ec2: f, filter: SecurityGroupFilterOptions{Filters: map[string]string{"group-name": "build"}}, poll: fastPoll}
		wantHalt(t, step.Run(t.Context(), state), state, ui, "`security_group_filter` (group-name=build vpc-id=vpc-1) matches no security group in vpc-1", "`security_group_ids`")
		wantNoKeys(t, state, keySGIDs)
	})
	t.Run("describe fails", func(t *testing.T) {
		f := newFakeSecurityGroups(t)
		f.DescribeGroupsCalls.Return(nil, apiErr("UnauthorizedOperation"))
		state, ui := stateWithNetwork(t)
		step := &stepSecurityGroup{ec2: f, filter: SecurityGroupFilterOptions{Filters: map[string]string{"group-name": "build"}}, poll: fastPoll}
		err := wantHalt(t, step.Run(t.Context(), state), state, ui, "looking for the security groups of `security_group_filter`")
		wantAPICode(t, err, "UnauthorizedOperation")
		wantNoKeys(t, state, keySGIDs)
	})
}

// checkIPServer answers like checkip.amazonaws.com, on loopback, and makes
// checkPublicIP ask it.
func checkIPServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	t.Setenv(checkIPURLEnv, srv.URL)
	return srv
}

func TestStepSecurityGroup_sourcePublicIP(t *testing.T) {
	for _, tt := range []struct {
		name      string
		body      string
		wantIPv4  []string
		wantIPv6  []string
		wantInOut string
	}{
		{name: "IPv4 becomes a /32", body: "198.51.100.23\n", wantIPv4: []string{"198.51.100.23/32"}, wantInOut: "public IP address is 198.51.100.23"},
		{name: "IPv6 becomes a /128", body: "2001:db8::7", wantIPv6: []string{"2001:db8::7/128"}, wantInOut: "public IP address is 2001:db8::7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkIPServer(t, http.StatusOK, tt.body)
			f := newFakeSecurityGroups(t)
			f.CreateSecurityGroupCalls.Return(&ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-temp")}, nil)
			f.AuthorizeIngressCalls.Return(nil, nil)
			state, ui := stateWithNetwork(t)
			step := &stepSecurityGroup{ec2: f, name: "packer_bakery_b1", port: 22, publicIP: true, tags: sgTags, poll: fastPoll}

			wantContinue(t, step.Run(t.Context(), state), state, ui)

			perm := f.AuthorizeIngressCalls.Input(t).IpPermissions
			if len(perm) != 1 {
				t.Fatalf("IpPermissions = %s, want one rule", jsonString(perm))
			}
			var v4, v6 []string
			for _, r := range perm[0].IpRanges {
				v4 = append(v4, aws.ToString(r.CidrIp))
			}
			for _, r := range perm[0].Ipv6Ranges {
				v6 = append(v6, aws.ToString(r.CidrIpv6))
			}
			if !reflect.DeepEqual(v4, tt.wantIPv4) || !reflect.DeepEqual(v6, tt.wantIPv6) {
				t.Errorf("rule admits %v %v, want %v %v", v4, v6, tt.wantIPv4, tt.wantIPv6)
			}
			if !strings.Contains(ui.Out.String(), tt.wantInOut) {
				t.Errorf("output does not say %q: %q", tt.wantInOut, ui.Out.String())
			}
			f.DeleteSecurityGroupCalls.Return(nil, nil)
			step.Cleanup(state)
		})
	}
}

func TestStepSecurityGroup_sourcePublicIPFails(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{name: "not an address", status: http.StatusOK, body: "<html>captive portal</html>", want: `answered "<html>captive portal</html>", not an IP address`},
		{name: "unspecified", status: http.StatusOK, body: "0.0.0.0", want: "answered 0.0.0.0, which would admit nobody"},
		{name: "server error", status: http.StatusServiceUnavailable, body: "busy", want: "answered 503 Service Unavailable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkIPServer(t, tt.status, tt.body)
			f := newFakeSecurityGroups(t) // nothing scripted: the lookup comes before any group is made
			state, ui := stateWithNetwork(t)
			step := &stepSecurityGroup{ec2: f, name: "packer_bakery_b1", port: 22, publicIP: true, tags: sgTags, poll: fastPoll}
			wantHalt(t, step.Run(t.Context(), state), state, ui, "`temporary_security_group_source_public_ip`", tt.want, "set `temporary_security_group_source_cidrs` instead")
			wantNoKeys(t, state, keySGIDs)
			step.Cleanup(state)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		step := &stepSecurityGroup{ec2: newFakeSecurityGroups(t), name: "x", port: 22, publicIP: true, poll: fastPoll,
			lookupIP: func(context.Context) (net.IP, error) { return nil, errors.New("dial tcp: connection refused") }}
		state, ui := stateWithNetwork(t)
		wantHalt(t, step.Run(t.Context(), state), state, ui, "connection refused")
	})
}

func TestCheckPublicIP_defaultURL(t *testing.T) {
	// Without the test override the lookup goes to the service amazon-ebs
	// uses; the request is cancelled before it leaves, so no network is used.
	t.Setenv(checkIPURLEnv, "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := checkPublicIP(ctx)
	if err == nil || !strings.Contains(err.Error(), "https://checkip.amazonaws.com") || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want a cancelled request to https://checkip.amazonaws.com", err)
	}
}

func TestStepSecurityGroup_existingGroupsChecked(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply *ec2.DescribeSecurityGroupsOutput
		err   error
		want  []string
		code  string
	}{
		{name: "group of another VPC", reply: &ec2.DescribeSecurityGroupsOutput{SecurityGroups: []types.SecurityGroup{
			{GroupId: aws.String("sg-1"), VpcId: aws.String("vpc-1")}, {GroupId: aws.String("sg-2"), VpcId: aws.String("vpc-9")}}},
			want: []string{"`security_group_ids`: sg-2 is in vpc-9; the build runs in vpc-1"}},
		{name: "group missing from the reply", reply: &ec2.DescribeSecurityGroupsOutput{SecurityGroups: []types.SecurityGroup{
			{GroupId: aws.String("sg-1"), VpcId: aws.String("vpc-1")}}},
			want: []string{"`security_group_ids`: sg-2 does not exist"}},
		{name: "not found", err: apiErr("InvalidGroup.NotFound"), want: []string{"`security_group_ids` [sg-1 sg-2]"}, code: "InvalidGroup.NotFound"},
		{name: "describe fails", err: apiErr("UnauthorizedOperation"), want: []string{"checking `security_group_ids` [sg-1 sg-2]"}, code: "UnauthorizedOperation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSecurityGroups(t)
			f.DescribeGroupsCalls.Return(tt.reply, tt.err)
			state, ui := stateWithNetwork(t)
			step := &stepSecurityGroup{ec2: f, ids: []string{"sg-1", "sg-2"}, port: 22, poll: fastPoll}
			err := wantHalt(t, step.Run(t.Context(), state), state, ui, tt.want...)
			if tt.code != "" {
				wantAPICode(t, err, tt.code)
			}
			wantNoKeys(t, state, keySGIDs)
			step.Cleanup(state)
		})
	}
}
