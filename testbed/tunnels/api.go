package tunnels

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

// EndpointSecurityGroup names the security group the stand-in endpoint
// "has": the bed creates it in the default VPC, so a build can admit SSH
// from it as it would from a real endpoint's group.
const EndpointSecurityGroup = "bakery-testbed-eice-endpoint"

// AWS answers, in the fault proxy, the API calls moto lacks: ssm
// StartSession / ResumeSession / TerminateSession and ec2
// DescribeInstanceConnectEndpoints. Moto gives it moto's own EC2 client
// for a region (to check instances and place the endpoint).
type AWS struct {
	SSM     *SSM
	EICE    *EICE
	Moto    func(region string) (*ec2.Client, error)
	Account string

	mu    sync.Mutex
	calls []string
}

// Calls lists the calls answered, "ssm:StartSession i-…", in order.
func (a *AWS) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

func (a *AWS) note(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf(format, args...))
}

// Local is the fault proxy's hook.
func (a *AWS) Local(r faultproxy.LocalRequest) (faultproxy.LocalReply, bool) {
	switch {
	case r.Service == "ssm" && a.SSM != nil:
		switch r.Action {
		case "StartSession", "ResumeSession", "TerminateSession":
			return a.ssmCall(r), true
		}
	case r.Service == "ec2" && r.Action == "DescribeInstanceConnectEndpoints" && a.EICE != nil:
		return a.describeEndpoints(r), true
	}
	return faultproxy.LocalReply{}, false
}

func jsonReply(v any) faultproxy.LocalReply {
	b, _ := json.Marshal(v)
	return faultproxy.LocalReply{Status: http.StatusOK, ContentType: "application/x-amz-json-1.1", Body: b}
}

func jsonError(status int, code, msg string) faultproxy.LocalReply {
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	return faultproxy.LocalReply{Status: status, ContentType: "application/x-amz-json-1.1", Body: b}
}

func (a *AWS) ssmCall(r faultproxy.LocalRequest) faultproxy.LocalReply {
	var in struct {
		Target       string
		DocumentName string
		Parameters   map[string][]string
		SessionId    string
	}
	if err := json.Unmarshal(r.Body, &in); err != nil {
		return jsonError(400, "ValidationException", err.Error())
	}
	switch r.Action {
	case "StartSession":
		a.note("ssm:StartSession %s %s %v", in.Target, in.DocumentName, in.Parameters)
		if err := a.running(r.Region, in.Target); err != nil {
			return jsonError(400, "TargetNotConnected", err.Error())
		}
		id, u, tok, err := a.SSM.StartSession(in.Target, in.DocumentName, in.Parameters)
		var ae *APIError
		if errors.As(err, &ae) {
			return jsonError(ae.Status, ae.Code, ae.Msg)
		}
		return jsonReply(map[string]string{"SessionId": id, "StreamUrl": u, "TokenValue": tok})
	case "ResumeSession":
		a.note("ssm:ResumeSession %s", in.SessionId)
		tok, err := a.SSM.ResumeSession(in.SessionId)
		var ae *APIError
		if errors.As(err, &ae) {
			return jsonError(ae.Status, ae.Code, ae.Msg)
		}
		out := map[string]string{"SessionId": in.SessionId, "StreamUrl": a.SSM.URL() + "/v1/data-channel/" + in.SessionId + "?role=publish_subscribe"}
		if tok != "" {
			out["TokenValue"] = tok
		}
		return jsonReply(out)
	default:
		a.note("ssm:TerminateSession %s", in.SessionId)
		_ = a.SSM.TerminateSession(in.SessionId)
		return jsonReply(map[string]string{"SessionId": in.SessionId})
	}
}

// running reports an error unless the instance exists in moto and runs:
// Session Manager reaches only running instances whose agent registered.
func (a *AWS) running(region, id string) error {
	c, err := a.Moto(region)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return fmt.Errorf("%s is not connected.", id)
	}
	for _, res := range out.Reservations {
		for _, i := range res.Instances {
			if i.State != nil && i.State.Name == types.InstanceStateNameRunning {
				return nil
			}
		}
	}
	return fmt.Errorf("%s is not connected.", id)
}

type placement struct {
	vpc, subnet, az, sg string
}

// place puts the endpoint in the region's default VPC, in its first
// subnet, with its own security group (created in moto if missing).
func (a *AWS) place(region string) (placement, error) {
	c, err := a.Moto(region)
	if err != nil {
		return placement{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpcs.Vpcs) == 0 {
		return placement{}, fmt.Errorf("no default VPC in moto: %v", err)
	}
	p := placement{vpc: aws.ToString(vpcs.Vpcs[0].VpcId)}
	subnets, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{p.vpc}}}})
	if err != nil || len(subnets.Subnets) == 0 {
		return placement{}, fmt.Errorf("no subnet in %s: %v", p.vpc, err)
	}
	sort.Slice(subnets.Subnets, func(i, j int) bool {
		return aws.ToString(subnets.Subnets[i].AvailabilityZone) < aws.ToString(subnets.Subnets[j].AvailabilityZone)
	})
	p.subnet, p.az = aws.ToString(subnets.Subnets[0].SubnetId), aws.ToString(subnets.Subnets[0].AvailabilityZone)
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("group-name"), Values: []string{EndpointSecurityGroup}}, {Name: aws.String("vpc-id"), Values: []string{p.vpc}}}})
	if err == nil && len(groups.SecurityGroups) > 0 {
		p.sg = aws.ToString(groups.SecurityGroups[0].GroupId)
		return p, nil
	}
	created, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(EndpointSecurityGroup),
		Description: aws.String("the test-bed's EC2 Instance Connect Endpoint"), VpcId: aws.String(p.vpc)})
	if err != nil {
		return placement{}, err
	}
	p.sg = aws.ToString(created.GroupId)
	return p, nil
}

type endpointXML struct {
	OwnerID          string   `xml:"ownerId"`
	ID               string   `xml:"instanceConnectEndpointId"`
	ARN              string   `xml:"instanceConnectEndpointArn"`
	State            string   `xml:"state"`
	StateMessage     string   `xml:"stateMessage"`
	DNSName          string   `xml:"dnsName"`
	NetworkIfaces    []string `xml:"networkInterfaceIdSet>item"`
	VpcID            string   `xml:"vpcId"`
	AvailabilityZone string   `xml:"availabilityZone"`
	CreatedAt        string   `xml:"createdAt"`
	SubnetID         string   `xml:"subnetId"`
	PreserveClientIP bool     `xml:"preserveClientIp"`
	SecurityGroupIDs []string `xml:"securityGroupIdSet>item"`
}

type describeEndpointsXML struct {
	XMLName   xml.Name      `xml:"DescribeInstanceConnectEndpointsResponse"`
	Xmlns     string        `xml:"xmlns,attr"`
	RequestID string        `xml:"requestId"`
	Endpoints []endpointXML `xml:"instanceConnectEndpointSet>item"`
}

func ec2Error(status int, code, msg string) faultproxy.LocalReply {
	type errXML struct {
		XMLName   xml.Name `xml:"Response"`
		Code      string   `xml:"Errors>Error>Code"`
		Message   string   `xml:"Errors>Error>Message"`
		RequestID string   `xml:"RequestID"`
	}
	b, _ := xml.Marshal(errXML{Code: code, Message: msg, RequestID: "bakery-testbed"})
	return faultproxy.LocalReply{Status: status, ContentType: "text/xml;charset=UTF-8", Body: append([]byte(xml.Header), b...)}
}

func (a *AWS) describeEndpoints(r faultproxy.LocalRequest) faultproxy.LocalReply {
	if r.DryRun {
		return ec2Error(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	a.note("ec2:DescribeInstanceConnectEndpoints %s", r.Params.Encode())
	p, err := a.place(r.Region)
	if err != nil {
		return ec2Error(http.StatusInternalServerError, "InternalError", err.Error())
	}
	e := endpointXML{
		OwnerID: a.Account, ID: a.EICE.ID, ARN: fmt.Sprintf("arn:aws:ec2:%s:%s:instance-connect-endpoint/%s", r.Region, a.Account, a.EICE.ID),
		State: "create-complete", DNSName: a.EICE.DNSName(), NetworkIfaces: []string{"eni-0bakerytestbed00"},
		VpcID: p.vpc, AvailabilityZone: p.az, CreatedAt: "2026-01-01T00:00:00.000Z", SubnetID: p.subnet, SecurityGroupIDs: []string{p.sg},
	}
	if !matchEndpoint(r.Params, e) {
		return xmlOK(describeEndpointsXML{Xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", RequestID: "bakery-testbed"})
	}
	return xmlOK(describeEndpointsXML{Xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", RequestID: "bakery-testbed", Endpoints: []endpointXML{e}})
}

func xmlOK(v any) faultproxy.LocalReply {
	b, _ := xml.Marshal(v)
	return faultproxy.LocalReply{Status: http.StatusOK, ContentType: "text/xml;charset=UTF-8", Body: append([]byte(xml.Header), b...)}
}

// matchEndpoint applies InstanceConnectEndpointId.N and the filters EC2
// documents for this call that a build uses.
func matchEndpoint(q url.Values, e endpointXML) bool {
	ids := listParam(q, "InstanceConnectEndpointId.")
	if len(ids) > 0 && !contains(ids, e.ID) {
		return false
	}
	for i := 1; ; i++ {
		name := q.Get("Filter." + strconv.Itoa(i) + ".Name")
		if name == "" {
			return true
		}
		values := listParam(q, "Filter."+strconv.Itoa(i)+".Value.")
		var have string
		switch name {
		case "vpc-id":
			have = e.VpcID
		case "subnet-id":
			have = e.SubnetID
		case "state":
			have = e.State
		case "instance-connect-endpoint-id":
			have = e.ID
		default:
			continue
		}
		if !contains(values, have) {
			return false
		}
	}
}

func listParam(q url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := q[prefix+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
